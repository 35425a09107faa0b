from test_jupyterlab import lab_dashboard  # noqa
from dashboard_checks import wait_for_initial_heatmap

def test_debug(lab_dashboard, artifacts):
    page = lab_dashboard
    wait_for_initial_heatmap(page)
    page.wait_for_timeout(1000)
    print(page.evaluate("(() => {const g=document.querySelector('.rdmw-heatmap .js-plotly-plot'); const r=g.getBoundingClientRect(); return [r.x,r.y,r.width,r.height, g.querySelectorAll('.main-svg').length, g.querySelectorAll('image, .hm').length, getComputedStyle(g).visibility]})()"))
    page.screenshot(path=str(artifacts/"dbg0.png"))
    page.set_viewport_size({"width": 1400, "height": 1900})
    for w in (500, 3000):
        page.wait_for_timeout(w)
        print(w, page.evaluate("(() => {const g=document.querySelector('.rdmw-heatmap .js-plotly-plot'); const r=g.getBoundingClientRect(); return [r.x,r.y,r.width,r.height, g.querySelectorAll('.main-svg').length, g.querySelectorAll('image, .hm').length]})()"))
        page.screenshot(path=str(artifacts/f"dbg{w}.png"))
