"""Dropout layers as students write them, re-written from public CS231n-style repositories.

Each entry re-writes, in this course's conventions (``p`` is the DROP probability), one distinct
pattern of public code; the comment above it names the repository and path where it was seen
(the code here is our own). An entry whose pattern was not found in a named public file says so:
it is a pattern we wrote. Written for the keep convention of the 2018+ CS231n handouts,
a pattern lands in the "swapped" family. ``points`` is what the entry earns per task and
``expected`` the mistake each failing check must name: tests/test_grading_faults.py asserts both.
Loaded by ``catalogue.py`` (by path, as classroom.py loads the catalogue), which passes ``Variant``.
"""

from coursekit.manifest import COURSE

DROPOUT = COURSE.assignment_named("dropout")  # the assignment these tests grade
FULL = {task.id: task.points for task in DROPOUT.tasks}
FORWARD_GATED = ("test_test_mode_identity", "test_shape_and_dtype_kept", "test_input_not_modified",
                 "test_masks_independent", "test_seed_makes_mask_reproducible")
BACKWARD_TRAIN = ("test_backward_reuses_forward_mask", "test_backward_matches_numeric_gradient")
# A train mode that drops at the wrong rate or scales wrongly fails these: statistics and values,
# and the test branch (given code), right only as the partner of a right train mode.
GATED_ON_STATISTICS = ("test_train_statistics", "test_train_values", "test_test_mode_identity")
def _points(**lost):
    """Full marks minus ``lost`` points per task."""
    return {task: full - lost.get(task, 0.0) for task, full in FULL.items()}


def variants(Variant):
    """The entries, built with the catalogue's ``Variant`` class."""
    correct = [
        # plmrr/gan-from-scratch dropout.py: mask compares rand with p using ">", pre-scaled by 1/(1-p).
        Variant("wild-gt-prescaled", "uniform draws > p, mask pre-scaled by 1/(1-p), backward dout * mask",
                regions={"dropout_forward": "mask = (np.random.rand(*x.shape) > p) / (1 - p)\nout = x * mask",
                         "dropout_backward": "dx = dout * mask"}, points=_points()),
        # SharmishtaGanesh14/DeepLearning Lab8_dropoutFromScratch.py: float32 0/1 mask, scale in both passes.
        Variant("wild-float32-mask", "float32 0/1 mask stored unscaled, scaled in forward and backward",
                regions={"dropout_forward": "mask = (np.random.rand(*x.shape) > p).astype(np.float32)\n"
                                            "out = x * mask / (1 - p)",
                         "dropout_backward": 'dx = dout * mask / (1 - dropout_param["p"])'}, points=_points()),
        # A pattern we wrote (not found in a named public file): uniform draws, a mask filled with 1/(1-p).
        Variant("wild-uniform-fill", "np.random.uniform draws; mask = 1/(1-p) where kept, 0 elsewhere",
                regions={"dropout_forward": "draws = np.random.uniform(0, 1, size=x.shape)\n"
                                            "mask = np.zeros_like(draws)\nmask[draws >= p] = 1 / (1 - p)\n"
                                            "out = x * mask",
                         "dropout_backward": "dx = mask * dout"}, points=_points()),
        # A pattern we wrote after a code-search excerpt that named no repository ("1 - binomial(1, p)");
        # not found in a named public file.
        Variant("wild-one-minus-binomial", "keep = 1 - binomial(1, p): a drop indicator turned into a keep mask",
                regions={"dropout_forward": "mask = 1 - np.random.binomial(n=1, p=p, size=x.shape)\n"
                                            "out = mask * x / (1 - p)",
                         "dropout_backward": 'dx = mask * dout / (1 - dropout_param["p"])'}, points=_points()),
        # A pattern we wrote (not found in a named public file): the keep probability named once.
        Variant("wild-keep-variable", "keep = 1 - p named once, mask < keep scaled by 1/keep",
                regions={"dropout_forward": "keep = 1 - p\nmask = (np.random.rand(*x.shape) < keep) / keep\n"
                                            "out = x * mask"}, points=_points()),
        # Most real correct files return a float64 dx for a float32 dout (the mask is float64); CS231n's
        # skeleton (VisBlank/DLMatFramework learn/cs231n/assignment2/cs231n/layers.py) has no cast in
        # dropout_backward. Same here: the given cast removed.
        Variant("wild-float64-dx", "no cast of dx: float64 dx for a float32 dout",
                edits=[("layers.py:dropout_backward", "    return dx.astype(dout.dtype, copy=False)\n", "    return dx\n")],
                points=_points()),
        # A pattern we wrote (not seen): x.shape[0] and x.shape[1:] used apart instead of unpacking N, D.
        Variant("wild-shape-split", "mask drawn as rand(N, *rest): works for any number of dimensions",
                regions={"dropout_forward": "N = x.shape[0]\n"
                                            "mask = (np.random.rand(N, *x.shape[1:]) < 1 - p) / (1 - p)\n"
                                            "out = x * mask"}, points=_points()),
    ]
    faults = [
        # Synthaze/EpyNN nnlibs/dropout/forward.py: standard_normal draws compared with the keep rate,
        # divided by it. A string search found nine CS231n-style layers.py files with the same line,
        # (np.random.randn(*x.shape) < p) / p, but named none of their repositories.
        Variant("wild-randn-keep", "normal draws < p, scaled by 1/p (keep-convention code with randn)",
                regions={"dropout_forward": "mask = (np.random.randn(*x.shape) < p) / p\nout = x * mask"},
                expected=dict.fromkeys(GATED_ON_STATISTICS, "mask-from-normal"), points=_points(dropout_forward=6)),
        # A pattern we wrote (not seen): the same normal draws in the drop convention.
        Variant("wild-randn-drop", "normal draws > p, scaled by 1/(1-p) (drop convention, randn)",
                regions={"dropout_forward": "mask = (np.random.randn(*x.shape) > p) / (1 - p)\nout = x * mask"},
                # The survivors are scaled right, so the values check passes.
                expected={"test_train_statistics": "mask-from-normal", "test_test_mode_identity": "mask-from-normal"},
                points=_points(dropout_forward=5)),
        # A pattern we wrote after a code-search excerpt that named no repository (keeps rand > p, divides
        # by p); not found in a named public file.
        Variant("wild-inverse-p", "drops with probability p but scales the survivors by 1/p",
                regions={"dropout_forward": "out = x * (np.random.rand(*x.shape) > p) / p\n"
                                            "mask = (out != 0) / p"},
                expected=dict.fromkeys(GATED_ON_STATISTICS, "scaled-by-inverse-p"), points=_points(dropout_forward=6)),
        # nilbahaaeddine/M1_CNN src/classes/dropout.py: binomial(1, p) / p, the keep convention.
        Variant("wild-binomial-keep", "np.random.binomial(1, p) / p: p used as the keep probability",
                regions={"dropout_forward": "mask = np.random.binomial(1, p, size=x.shape) / p\nout = x * mask"},
                expected=dict.fromkeys(GATED_ON_STATISTICS, "keep-drop-swapped"), points=_points(dropout_forward=6)),
        # pizzalist/transformer-numpy numpy/utils/dropout.py and U-T100/make-DeepLearning-from-zero
        # ch06/Dropout.py: unscaled in training, x * (1 - p) at test time (vanilla dropout).
        Variant("wild-vanilla", "vanilla dropout: rand > p unscaled in training, x * (1 - p) in test mode",
                regions={"dropout_forward": "mask = np.random.rand(*x.shape) > p\nout = x * mask"},
                edits=[("layers.py:dropout_forward", "        out = x.copy()\n", "        out = x * (1.0 - p)\n")],
                expected={"test_train_statistics": "scaled-at-test-time", "test_train_values": "scaled-at-test-time",
                          "test_test_mode_identity": "scaled-at-test-time"},
                points=_points(dropout_forward=6)),
        # A pattern we wrote (not seen): the same in the keep convention, test output x * p.
        Variant("wild-vanilla-keep", "vanilla dropout in the keep convention: rand < p unscaled, x * p at test time",
                regions={"dropout_forward": "mask = np.random.rand(*x.shape) < p\nout = x * mask"},
                edits=[("layers.py:dropout_forward", "        out = x.copy()\n", "        out = x * p\n")],
                expected={"test_train_statistics": "scaled-at-test-time", "test_train_values": "scaled-at-test-time",
                          "test_test_mode_identity": "scaled-at-test-time"},
                points=_points(dropout_forward=6)),
        # Veeransh14/Transformer-From-Scratch Transformers/BaseLayers/dropout.py: binomial keep mask, no scale.
        Variant("wild-binomial-unscaled", "binomial(1, 1 - p) keep mask, survivors never scaled",
                regions={"dropout_forward": "mask = np.random.binomial(1, 1 - p, x.shape).astype(x.dtype)\n"
                                            "out = x * mask"},
                expected=dict.fromkeys(GATED_ON_STATISTICS, "survivors-not-scaled"), points=_points(dropout_forward=6)),
        # A pattern we wrote (not found in a named public file): an operator-precedence slip puts the
        # division inside the comparison.
        Variant("wild-drops-nothing", "rand < (1 - p) / (1 - p): the comparison is always true, nothing dropped",
                regions={"dropout_forward": "mask = np.random.rand(*x.shape) < (1 - p) / (1 - p)\nout = x * mask"},
                expected={"test_train_statistics": "drops-nothing", "test_train_values": "drops-nothing",
                          **dict.fromkeys(FORWARD_GATED, "drops-nothing"), **dict.fromkeys(BACKWARD_TRAIN)},
                points=_points(dropout_forward=10, dropout_backward=5)),
        # SharmishtaGanesh14/DeepLearning Lab8_dropoutFromScratch.py: "dim1, dim2 = x.shape".
        Variant("wild-2d-only", "unpacks N, D = x.shape: raises on 4-D input",
                regions={"dropout_forward": "N, D = x.shape\nmask = (np.random.rand(N, D) > p) / (1 - p)\n"
                                            "out = x * mask"},
                expected={"test_shape_and_dtype_kept": "assumes-2d-input"}, points=_points(dropout_forward=1)),
        # VisBlank/DLMatFramework learn/cs231n/assignment2/cs231n/layers.py: CS231n's skeleton starts
        # dropout_backward with dx = None, leaves the train branch as pass and returns dx: None.
        Variant("wild-backward-none", "dropout_backward left as the skeleton: returns None",
                regions={"dropout_backward": "pass"},
                edits=[("layers.py:dropout_backward", "    dropout_param, mask = cache\n", "    dropout_param, mask = cache\n    dx = None\n"),
                       ("layers.py:dropout_backward", "    return dx.astype(dout.dtype, copy=False)\n", "    return dx\n")],
                expected={**dict.fromkeys(BACKWARD_TRAIN, "backward-not-written"),
                          "test_backward_in_test_mode_is_identity": "backward-not-written"},
                points=_points(dropout_backward=6)),
        # Our own student edition's stub, handed in unchanged (not seen elsewhere).
        Variant("wild-backward-notimplemented", "dropout_backward still raises NotImplementedError",
                regions={"dropout_backward": 'raise NotImplementedError("dropout_backward")'},
                expected={**dict.fromkeys(BACKWARD_TRAIN, "backward-not-written"),
                          "test_backward_in_test_mode_is_identity": "backward-not-written"},
                points=_points(dropout_backward=6)),
        # A pattern we wrote (not seen): a pre-scaled mask divided again in the backward pass.
        Variant("wild-backward-double-scale", "pre-scaled mask, and the backward divides by 1 - p again",
                regions={"dropout_backward": 'dx = dout * mask / (1 - dropout_param["p"])'},
                expected=dict.fromkeys(BACKWARD_TRAIN), points=_points(dropout_backward=5)),
        # Young-1231/HUST-AI----- youngnet/nn/dropout.py: binomial(1, 1 - p, x.shape[-1]), one mask row
        # for the whole batch.
        Variant("wild-row-mask", "binomial mask of one row, broadcast over the batch",
                regions={"dropout_forward": "mask = np.random.binomial(1, 1 - p, size=x.shape[1:]) / (1 - p)\n"
                                            "out = x * mask"},
                expected={"test_masks_independent": "mask-shared-across-batch", "test_train_statistics": None,
                          "test_test_mode_identity": None},
                points=_points(dropout_forward=6)),
        # A Dropout class in a public "deep learning from scratch" study file (found by exact-string
        # search; the index does not name its repository): rand(x.shape[0]), one draw per row, that
        # numpy broadcasts along the columns of a square batch and rejects for any other shape.
        Variant("wild-mask-per-row", "rand(x.shape[0]): one draw per row, broadcast along the columns",
                regions={"dropout_forward": "mask = (np.random.rand(x.shape[0]) >= p) / (1 - p)\n"
                                            "out = x * mask"},
                expected={"test_masks_independent": "mask-shared-across-batch", "test_train_statistics": None,
                          "test_test_mode_identity": None, "test_shape_and_dtype_kept": None,
                          "test_seed_makes_mask_reproducible": None, **dict.fromkeys(BACKWARD_TRAIN),
                          "test_backward_in_test_mode_is_identity": None},
                points=_points(dropout_forward=8, dropout_backward=6)),
        # A pattern we wrote (not found in a named public file): the reference's line with randn for rand,
        # normal draws compared with the keep probability 1 - p. (A CS231n-style layers.py found by
        # exact-string search, its repository unnamed by the index, compares them with p: wild-randn-drop.)
        Variant("wild-randn-keep-threshold", "normal draws < 1 - p, scaled by 1/(1-p): rand's line with randn",
                regions={"dropout_forward": "draws = np.random.randn(*x.shape)\n"
                                            "mask = np.where(draws < 1 - p, 1 / (1 - p), 0.0)\nout = x * mask"},
                # The survivors are scaled right, so the values check passes.
                expected=dict.fromkeys(("test_train_statistics", "test_test_mode_identity"),
                                       "mask-from-normal-at-keep-rate"),
                points=_points(dropout_forward=5)),
        # A CS231n-style layers.py found by exact-string search (the index does not name its repository):
        # uniform draws, the ones below p set to 0 and the rest left as they were, unscaled.
        Variant("wild-mask-keeps-draws", "uniform draws below p zeroed, the others kept as the mask's values",
                regions={"dropout_forward": "draws = np.random.rand(*x.shape)\n"
                                            "mask = np.where(draws >= p, draws, 0.0)\nout = x * mask"},
                expected=dict.fromkeys(GATED_ON_STATISTICS, "mask-not-binary"), points=_points(dropout_forward=6)),
        # A pattern we wrote (not seen): the same mask, divided by 1 - p.
        Variant("wild-mask-keeps-draws-scaled", "the non-binary mask above, divided by 1 - p",
                regions={"dropout_forward": "draws = np.random.rand(*x.shape)\n"
                                            "mask = draws * (draws >= p) / (1 - p)\nout = x * mask"},
                expected=dict.fromkeys(GATED_ON_STATISTICS, "mask-not-binary"), points=_points(dropout_forward=6)),
        # Networks that store self.dropout = 1 - dropout in their constructor, "prob of keeping the neuron",
        # found by exact-string search (the index does not name their repositories); here the course's
        # constructor converts its drop probability before the layers see it.
        Variant("wild-net-keep-probability", "the constructor sets dropout = 1 - dropout: the net drops 1 - p",
                edits=[("fc_net.py", "        self.use_dropout = dropout > 0\n",
                        "        self.use_dropout = dropout > 0\n        dropout = 1 - dropout  # keep probability\n")],
                expected=dict.fromkeys(("test_loss_with_dropout", "test_gradients_with_dropout",
                                        "test_dropout_after_each_relu"), "net-passes-keep-probability"),
                points=_points(fc_net=6)),
        # A pattern we wrote (not found in a named public file): out = x aliases the caller's array.
        Variant("wild-inplace-zero", "out = x, then out[drop] = 0 and out /= 1 - p: writes into x",
                regions={"dropout_forward": "mask = (np.random.rand(*x.shape) >= p) / (1 - p)\n"
                                            "out = x\nout[mask == 0] = 0\nout /= 1 - p"},
                expected={"test_input_not_modified": "input-modified"}, points=_points(dropout_forward=1)),
        # A pattern we wrote (not seen): FullyConnectedNet.loss without the loop that sets bn_param modes.
        Variant("wild-batchnorm-train-at-test", "batch norm layers never switched to test mode",
                edits=[("fc_net.py", '        for bn_param in self.bn_params:\n            bn_param["mode"] = mode\n', "")],
                expected={"test_test_mode_is_deterministic_and_dropout_free": "batchnorm-train-at-test"},
                points=_points(fc_net=2)),
    ]
    return correct, faults
