"""`kiln dump --format html` in a real headless Chromium (Debian's package), driven over
the DevTools protocol (--remote-debugging-pipe): the page loads, a real mouse click on a
Conv node fills the details panel with the node's op, name, shapes and parameter count,
and the search box highlights the nodes it matches.

Usage: html_dump_test.py KILN_BINARY SOURCE_DIR [--screenshot PNG]
"""
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

kiln, source = sys.argv[1], sys.argv[2]
screenshot = sys.argv[sys.argv.index("--screenshot") + 1] if "--screenshot" in sys.argv else None
chromium = shutil.which("chromium") or shutil.which("chromium-browser")
if not chromium:
    sys.exit("FAIL: no chromium on PATH (scripts/setup.sh installs Debian's chromium package)")
failures = []


def check(cond, what):
    if not cond:
        failures.append(what)
        print("FAIL:", what)


class DevTools:
    """The Chrome DevTools protocol over --remote-debugging-pipe: JSON messages ended by NUL
    (Chromium reads fd 3 and writes fd 4)."""

    def __init__(self, profile):
        to_chrome_r, self.to_chrome = os.pipe()
        self.from_chrome, from_chrome_w = os.pipe()

        def fds():  # (via fresh descriptors, so neither end overwrites the other; dup2 clears CLOEXEC)
            r, w = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            [chromium, "--headless=new", "--no-sandbox", "--disable-gpu", "--remote-debugging-pipe",
             "--no-first-run", "--window-size=1400,900", f"--user-data-dir={profile}", "about:blank"],
            preexec_fn=fds, close_fds=False, stdout=subprocess.DEVNULL, stderr=open(f"{profile}.log", "w"))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self.buffer, self.next_id, self.events = b"", 0, []

    def send(self, method, params=None, session=None, timeout=60):
        self.next_id += 1
        msg = {"id": self.next_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self.to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.time() + timeout
        while time.time() < deadline:
            while b"\0" in self.buffer:
                raw, self.buffer = self.buffer.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
                self.events.append(reply)
            chunk = os.read(self.from_chrome, 1 << 16)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe")
            self.buffer += chunk
        raise RuntimeError(f"{method}: no reply in {timeout}s")

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


with tempfile.TemporaryDirectory() as tmp:
    page = f"{tmp}/resnet8.html"
    subprocess.run([kiln, "dump", f"{source}/tests/data/models/resnet/model.onnx", "--format", "html", "--memory",
                    "-o", page], check=True)
    devtools = DevTools(f"{tmp}/profile")
    try:
        target = devtools.send("Target.createTarget", {"url": "file://" + page})["targetId"]
        session = devtools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

        def js(expr):
            r = devtools.send("Runtime.evaluate", {"expression": expr, "returnByValue": True}, session)
            if "exceptionDetails" in r:
                raise RuntimeError(f"{expr}: {r['exceptionDetails']}")
            return r["result"].get("value")

        for _ in range(600):  # the new target starts on about:blank, then loads the page
            if js("document.readyState === 'complete' && !!document.getElementById('kiln-graph')"):
                break
            time.sleep(0.05)
        check(js("document.querySelectorAll('#graph svg g.node').length") > 20, "the SVG graph has its nodes")

        # The first Conv node: its label (op, name, shape) as Graphviz drew it.
        label = js("""(() => {
            const g = [...document.querySelectorAll('#graph g.node')]
                .find(g => [...g.querySelectorAll('text')].some(t => t.textContent === 'Conv'));
            g.scrollIntoView({block: 'center', inline: 'center'});
            const r = g.getBoundingClientRect();
            return {id: g.id, x: r.x + r.width / 2, y: r.y + r.height / 2,
                    texts: [...g.querySelectorAll('text')].map(t => t.textContent)};
        })()""")
        check(label is not None, "a Conv node is drawn")
        for kind in ("mousePressed", "mouseReleased"):  # a real click at the node's centre
            devtools.send("Input.dispatchMouseEvent", {"type": kind, "x": label["x"], "y": label["y"],
                                                       "button": "left", "clickCount": 1}, session)
        panel = js("""(() => {
            const t = id => (document.getElementById(id) || {}).textContent || null;
            return {title: t('detail-title'), name: t('detail-name'), params: t('detail-params'),
                    params_in: [...document.querySelectorAll('#detail-inputs tr.parameter')].map(r => r.textContent),
                    outputs: t('detail-outputs'),
                    selected: [...document.querySelectorAll('g.node.selected')].map(g => g.id)};
        })()""")
        print("clicked", label["texts"], "->", panel)
        check(panel["title"] == "Conv", f"details title {panel['title']!r}")
        check(panel["name"] == label["texts"][1], f"details name {panel['name']!r} vs label {label['texts']}")
        check(panel["selected"] == [label["id"]], f"selected {panel['selected']}")
        check(panel["outputs"] and label["texts"][2] in panel["outputs"],
              f"output shape {label['texts'][2]!r} in {panel['outputs']!r}")
        check(panel["outputs"] and "offset" in panel["outputs"], "--memory: the output's buffer is shown")
        # The parameter count is the product of the weight's dims (shown in the inputs table).
        weights = panel["params_in"]
        dims = re.findall(r"float32\[([0-9, ]+)\]", " ".join(weights))
        expected = sum(eval("*".join(d.split(","))) for d in dims)
        got = int(panel["params"].split(":")[1].replace(",", "")) if panel["params"] else -1
        check(dims and got == expected, f"parameters {got} vs {expected} from {weights}")

        # Search: typed text highlights exactly the nodes whose op or name holds it.
        js("document.getElementById('search').focus()")
        devtools.send("Input.insertText", {"text": "block2/conv"}, session)
        found = js("""(() => ({matches: document.getElementById('matches').textContent,
            marked: document.querySelectorAll('#graph g.node.match').length,
            expected: [...document.querySelectorAll('#graph g.node')].filter(g =>
                [...g.querySelectorAll('text')].slice(0, 2).some(t => t.textContent.toLowerCase().includes('block2/conv'))).length}))()""")
        print("search block2/conv ->", found)
        check(found["marked"] > 0 and found["marked"] == found["expected"], f"search highlights {found}")
        check(found["matches"].startswith(str(found["marked"])), f"match count text {found}")
        if screenshot:
            js("document.getElementById('search').value = ''; document.getElementById('search').dispatchEvent(new Event('input'))")
            shot = devtools.send("Page.captureScreenshot", {"format": "png"}, session)
            with open(screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
            print("wrote", screenshot)
    finally:
        devtools.close()

print("FAILED" if failures else "OK", f"({len(failures)} failures)")
sys.exit(1 if failures else 0)
