"""microgpt runs on tapegrad by changing one import (issue 13, item 2).

examples/microgpt_style/microgpt.py is a GPT trained on names in the style of Karpathy's
microgpt, on its own micrograd-style engine (engine.py beside it). Run with `--engine tapegrad`
(the same as changing its import line to `from tapegrad import Value`), it must print the very
same losses and the very same sampled names.

Below the printed digits: tapegrad computes every node's number bit for bit as the example's
engine does, and every gradient too, but sums a node's incoming gradients in reverse order of
creation (the record's order), where the example's engine, like micrograd and microgpt, sums
them in reverse order of its depth-first topological sort. The two orders differ, e.g. for the
27 uses of each final hidden unit by the logits: the depth-first walk reaches the target token's
logit first (it is the numerator of the probability the loss takes the log of), so the reverse
sweep adds its contribution last, where tapegrad adds it first (it was created last). Float
addition is not associative, so about half the parameters' gradients differ in the last bits
(relative differences below 1e-11). The last two tests pin both facts.
"""

import ast
import importlib.util
import random
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "microgpt_style"
PROGRAM = EXAMPLE / "microgpt.py"

STEPS, SAMPLES = 10, 5  # enough to train visibly and to sample; the test stays well under 20 s


def _run(*options):
    """Start the example program with a short run's options plus `options`."""
    return subprocess.Popen([sys.executable, str(PROGRAM), "--steps", str(STEPS), "--samples",
                             str(SAMPLES), *options], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=EXAMPLE)


def _output(process):
    """The program's standard output, once it has finished successfully."""
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return out.splitlines()


def test_tapegrad_prints_the_same_losses_and_names_as_the_examples_own_engine():
    own, tapegrad = _run(), _run("--engine", "tapegrad")  # both at once: each uses one core
    own, tapegrad = _output(own), _output(tapegrad)
    losses = [line for line in own if line.startswith("step ")]
    names = [line for line in own if line.startswith("sample ")]
    assert len(losses) == STEPS and len(names) == SAMPLES, own
    assert losses[0] == f"step    1 / {STEPS:4d} | loss 3.3660"  # ln(27) = 3.2958, nearly
    assert tapegrad == own


def test_the_first_statement_imports_the_engine_and_says_how_to_change_it():
    source = PROGRAM.read_text(encoding="utf-8")
    tree = ast.parse(source)
    first = tree.body[1]  # (after the docstring)
    assert isinstance(first, ast.ImportFrom) and (first.module, first.names[0].name) == (
        "engine", "Value")
    line = source.splitlines()[first.lineno - 1]
    assert line.startswith("from engine import Value  #") and "`from tapegrad import Value`" in line
    imports = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               and any(alias.name == "Value" for alias in node.names)]
    assert imports == [first]  # the one line a learner changes


def _load(path, name, monkeypatch):
    """The module in the file at `path`, loaded afresh as `name` for this test only (so the
    example's `from engine import Value` finds the copy of engine.py loaded before it)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, name, module)
    return module


@pytest.fixture
def first_step(monkeypatch):
    """A function that runs the example's first training step's forward and backward pass
    with a given Value class: (the loss, the model's parameters)."""
    engine = _load(EXAMPLE / "engine.py", "engine", monkeypatch)
    microgpt = _load(PROGRAM, "microgpt_style_example", monkeypatch)
    docs = microgpt.load_docs(microgpt.default_names_path())

    def run(value_class, walk=None):
        """The loss of the first document and the parameters, after one backward pass (`walk`
        does it, if given)."""
        monkeypatch.setattr(microgpt, "Value", value_class)
        random.seed(42)
        shuffled = list(docs)
        random.shuffle(shuffled)
        uchars = sorted(set("".join(shuffled)))
        bos = len(uchars)
        model = microgpt.init_model(bos + 1)
        tokens = [bos] + [uchars.index(ch) for ch in shuffled[0]] + [bos]
        loss = microgpt.document_loss(model, tokens)
        (walk or type(loss).backward)(loss)
        return loss, microgpt.parameters(model)

    return engine, run


def test_tapegrads_gradients_are_the_examples_engines_walked_in_creation_order(first_step):
    engine, run = first_step
    created = []  # every node of the example's engine that has children, as they are made
    made = engine.Value.__init__

    def init(self, data, children=(), local_grads=()):
        made(self, data, children, local_grads)
        if children:
            created.append(self)

    def walk_in_creation_order(loss):
        """backward(), but sweeping the nodes in reverse order of creation, as tapegrad does."""
        loss.grad = 1
        for node in reversed(created):
            for child, local_grad in zip(node._children, node._local_grads):
                child.grad += local_grad * node.grad

    engine.Value.__init__ = init  # (a copy of engine.py loaded for this test only)
    own_loss, own_params = run(engine.Value, walk_in_creation_order)
    tape_loss, tape_params = run(pytest.importorskip("tapegrad").Value)
    assert tape_loss.data == own_loss.data
    assert [p.grad for p in tape_params] == [p.grad for p in own_params]


def test_in_the_depth_first_order_the_gradients_agree_to_the_last_bits(first_step):
    engine, run = first_step
    own_loss, own_params = run(engine.Value)  # its own backward(): the depth-first order
    tape_loss, tape_params = run(pytest.importorskip("tapegrad").Value)
    assert tape_loss.data == own_loss.data  # the forward pass: the very same floats
    for own, tape in zip(own_params, tape_params):
        assert tape.grad == pytest.approx(own.grad, rel=1e-11, abs=1e-15)
