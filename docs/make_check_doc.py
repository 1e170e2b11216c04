"""Writes docs/check.md from docs/check.md.in: each `@example ARGS: PARTS` line becomes what
`tapegrad check ARGS` prints today for the engines in tests/check_engines (the PARTS of it),
and `@programs` the table of programs. Run it after changing what the check prints:
`python3 docs/make_check_doc.py`; tests/test_check.py checks the page against the check."""
import os, re, shlex, subprocess, sys
from pathlib import Path

W = Path(__file__).resolve().parent.parent  # the project
ENGINES = W / "tests/check_engines"
env = dict(os.environ, PYTHONPATH=str(W / "src"))
sys.path.insert(0, str(W / "src"))
from tapegrad.check import PROGRAMS

def run(args):
    r = subprocess.run([sys.executable, "-m", "tapegrad", "check", *args], capture_output=True,
                       text=True, env=env, cwd=ENGINES)
    return (r.stdout + r.stderr).rstrip("\n").splitlines()

def block_of(lines, start):
    end = start
    while end < len(lines) and lines[end] != "":
        end += 1
    return (start, end)

def part(lines, name):
    if name == "all":
        return [(0, len(lines))]
    if name == "summary":
        return [(len(lines) - 1, len(lines))]
    if name == "list":
        return [(0, lines.index("", 2))]
    if name == "skipped":
        idx = [i for i, l in enumerate(lines) if l.startswith("SKIPPED")]
        return [(idx[0], idx[-1] + 1)]
    if name.endswith("-json"):
        prog = name[:-5]
        if prog == "summary":
            i = next(i for i, l in enumerate(lines) if l.startswith('  "summary"'))
            return [(i - 1, len(lines))]
        head = lines.index('  "programs": [') + 1
        i = next(i for i, l in enumerate(lines) if l == f'      "name": "{prog}",')
        end = next(j for j in range(i, len(lines)) if lines[j].startswith("    }"))
        return [(0, head), (i - 1, end + 1)]
    i = next(i for i, l in enumerate(lines) if re.match(rf"[A-Z]+ {re.escape(name)}: ", l))
    if ", the same as in " in lines[i]:  # a one-line repeat of a crash or a hang
        return [(i, i + 1)]
    return [block_of(lines, i)]

def example(spec):
    args, parts = spec.split(":", 1)
    args = shlex.split(args)
    lines = run(args)
    ranges = []
    for p in parts.split(","):
        ranges += part(lines, p.strip())
    ranges.sort()
    out = [f"$ tapegrad check {' '.join(args)}"]
    last = None
    for a, b in ranges:
        if last is not None and a > last:
            out.append("...")
        out += lines[max(a, last or 0):b] if last is not None else lines[a:b]
        last = b
    return "<!-- check-example -->\n```text\n" + "\n".join(out) + "\n```"

text = (W / "docs" / "check.md.in").read_text()
text = text.replace("@programs\n", "".join(f"| `{p.name}` | {p.title} |\n" for p in PROGRAMS))
text = re.sub(r"^@example (.*)$", lambda m: example(m.group(1)), text, flags=re.M)
(W / "docs/check.md").write_text(text)
print("written")
