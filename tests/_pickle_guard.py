"""A pickle payload that records when it is unpickled: proves whether a loader executes pickles."""

FIRED: list = []


def _fire(*args):
    FIRED.append(args)
    return {"evil": True}


class Payload:
    """Unpickling this calls ``_fire`` (and so appends to ``FIRED``)."""

    def __reduce__(self):
        return (_fire, ("unpickled!",))
