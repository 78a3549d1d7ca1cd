"""Spatial dropout and MC dropout prediction as students write them: the second assignment (dropout2).

Each entry re-writes, in this course's conventions (``p`` is the DROP probability, the input of
spatial dropout is (N, C, H, W)), one pattern of public code; the comment above it names the
repository and path where it was seen (the code here is our own). An entry whose pattern was not
found in a named public file says so. ``expected`` maps every check the entry must fail to the
mistake its message must name; ``points`` is what it must earn in its task. Judged by
tests/test_dropout2_faults.py. Loaded by ``catalogue.py`` (by path), which passes ``Variant``.
"""

SPATIAL_GATED = ("test_whole_maps_dropped_or_kept", "test_maps_independent", "test_dtype_and_input_kept",
                 "test_seed_makes_mask_reproducible", "test_backward_reuses_forward_mask")
MC_GATED = ("test_entropy_of_the_mean_in_nats", "test_model_left_as_it_was")
SPATIAL_STATISTICS = ("test_train_statistics", "test_kept_maps_scaled", "test_test_mode_identity")

# The passes of a correct prediction, shared by the MC entries that change one other thing.
MC_PASS = """
h = X
for i in range(1, model.num_layers):
    h, _ = model._hidden_layer_forward(h, i)
    if model.use_dropout:
        h, _ = dropout_forward(h, {"mode": "train", "p": model.dropout_param["p"]})
L = model.num_layers
scores = affine_forward(h, model.params[f"W{L}"], model.params[f"b{L}"])[0]
"""


def _mc(before: str, body: str, after: str) -> str:
    """An mc_dropout_predict region: ``before`` the loop, one pass then ``body`` in it, ``after`` it."""
    loop = "for _ in range(num_samples):\n" + "".join(f"    {line}\n" for line in (MC_PASS + body).strip().split("\n"))
    return f"{before.strip()}\n{loop}{after.strip()}\n"


BN_TEST = "for bn in model.bn_params:\n    bn['mode'] = 'test'\n"  # the given code puts the modes back
SOFTMAX = "e = np.exp(scores - scores.max(axis=1, keepdims=True))\nprobs = e / e.sum(axis=1, keepdims=True)"
NATS = "entropy = -np.sum(mean_probs * np.log(np.clip(mean_probs, 1e-300, None)), axis=1)\n"


def variants(Variant):
    """The entries, built with the catalogue's ``Variant`` class."""
    spatial = [
        # adrita78/MyTorch-11785 mytorch/nn/dropout2d.py: binomial keep mask of shape (N, C, 1, 1),
        # unscaled, the scale applied in forward and backward.
        Variant("d2-binomial-maps", "binomial(1, 1 - p) per map, scaled in forward and backward",
                regions={"spatial_dropout_forward": "mask = np.random.binomial(1, 1 - p, size=x.shape[:2] + (1, 1))\n"
                                                    "out = x * mask / (1 - p)",
                         "spatial_dropout_backward": 'dx = dout * mask / (1 - dropout_param["p"])'},
                points={"spatial_dropout": 10}),
        # eyao0718/deep-learning mytorch/nn/dropout2d.py: an (N, C) mask given two trailing axes.
        Variant("d2-pair-mask", "an (N, C) keep mask indexed [:, :, None, None], scale kept with the mask",
                regions={"spatial_dropout_forward": "keep = np.random.rand(x.shape[0], x.shape[1]) >= p\n"
                                                    "mask = keep[:, :, None, None] / (1 - p)\nout = mask * x"},
                points={"spatial_dropout": 10}),
        # Santhoshkumar-p/mytorch mytorch/nn/dropout2d.py: a loop over examples, drop draws
        # binomial(1, p) turned into whole maps of ones and zeros.
        Variant("d2-loop-maps", "per-example loop: drop draws binomial(1, p) become whole maps of 0 or 1",
                regions={"spatial_dropout_forward": "N, C, H, W = x.shape\nmask = np.empty(x.shape)\n"
                                                    "for n in range(N):\n    drop = np.random.binomial(1, p, C)\n"
                                                    "    for c in range(C):\n"
                                                    "        mask[n, c] = 0.0 if drop[c] else 1.0 / (1 - p)\n"
                                                    "out = x * mask"},
                points={"spatial_dropout": 10}),
        # knighton/zen zen/api/fuzz/spatial_dropout.py: uniform draws on [0, 1/p) clipped to 1 and
        # floored: 1 with probability 1 - p.
        Variant("d2-clip-floor", "uniform(0, 1/p) draws clipped at 1 and floored: a keep mask",
                regions={"spatial_dropout_forward": "draws = np.random.uniform(0, 1 / p, size=(*x.shape[:2], 1, 1))\n"
                                                    "mask = np.floor(np.clip(draws, 0, 1)) / (1 - p)\nout = x * mask"},
                points={"spatial_dropout": 10}),
        # Sumesh-Suresh/Deep_Learning_library mytorch/nn/dropout2d.py: the map mask tiled to x's shape.
        Variant("d2-tiled", "an (N, C, 1, 1) mask tiled over H and W before use",
                regions={"spatial_dropout_forward": "small = (np.random.rand(*x.shape[:2], 1, 1) >= p) / (1 - p)\n"
                                                    "mask = np.tile(small, (1, 1) + x.shape[2:])\nout = x * mask"},
                points={"spatial_dropout": 10}),
    ]
    spatial_faults = [
        # phoebe97629/CMU-Deep-Learning_11785 mytorch/dropout.py (its Dropout2d): a mask over every
        # entry, as ordinary dropout (there also written into x; here into a new array).
        Variant("d2-elementwise", "one draw per entry: ordinary dropout on a 4-D input",
                regions={"spatial_dropout_forward": "mask = (np.random.rand(*x.shape) >= p) / (1 - p)\nout = x * mask"},
                expected={"test_whole_maps_dropped_or_kept": "spatial-mask-elementwise",
                          "test_maps_independent": "spatial-mask-elementwise"},
                points={"spatial_dropout": 7}),
        # BetterBench/2021-Daguan-Cup Traditional-DL/utils/spatial_dropout.py: noise of shape
        # (N, 1, ..., last axis), channels last; on (N, C, H, W) input it runs along W.
        Variant("d2-channels-last", "a mask of shape (N, 1, 1, W): the channels-last noise shape",
                regions={"spatial_dropout_forward": "mask = (np.random.rand(x.shape[0], 1, 1, x.shape[3]) >= p) / (1 - p)\n"
                                                    "out = x * mask"},
                expected={"test_whole_maps_dropped_or_kept": "spatial-mask-channels-last",
                          "test_maps_independent": "spatial-mask-channels-last"},
                points={"spatial_dropout": 7}),
        # A code-search excerpt that named no repository (a CMU 11-785 Dropout2d): binomial(1, p)
        # over the channels only, tiled over the batch: p used as the keep probability, and one
        # mask for every example.
        Variant("d2-shared-batch-swapped", "one (1, C, 1, 1) keep mask binomial(1, p) for the whole batch",
                regions={"spatial_dropout_forward": "mask = np.random.binomial(1, p, size=(1, x.shape[1], 1, 1))\n"
                                                    "out = x * mask / (1 - p)"},
                # Its backward (dout times the unscaled mask) misses the scale, as the excerpt's does.
                expected={"test_train_statistics": None, "test_test_mode_identity": None,
                          "test_maps_independent": "mask-shared-across-batch",
                          "test_backward_reuses_forward_mask": "backward-missing-scale"},
                points={"spatial_dropout": 5}),
        # A pattern we wrote (not found in a named public file): one decision per example for all its maps.
        Variant("d2-per-example", "an (N, 1, 1, 1) mask: every map of an example dropped together",
                regions={"spatial_dropout_forward": "mask = (np.random.rand(x.shape[0], 1, 1, 1) >= p) / (1 - p)\n"
                                                    "out = x * mask"},
                expected={"test_maps_independent": "mask-shared-across-units"}, points={"spatial_dropout": 9}),
        # A pattern we wrote (not found in a named public file): a map mask, survivors unscaled.
        Variant("d2-unscaled", "per-map keep mask, kept maps not scaled by 1/(1-p)",
                regions={"spatial_dropout_forward": "mask = np.random.rand(*x.shape[:2], 1, 1) >= p\nout = x * mask"},
                expected=dict.fromkeys(SPATIAL_STATISTICS, "survivors-not-scaled"), points={"spatial_dropout": 6}),
        # A pattern we wrote (not found in a named public file): keep with probability p.
        Variant("d2-swapped", "per-map mask keeps with probability p",
                regions={"spatial_dropout_forward": "mask = (np.random.rand(*x.shape[:2], 1, 1) < p) / (1 - p)\n"
                                                    "out = x * mask"},
                expected={"test_train_statistics": "keep-drop-swapped", "test_test_mode_identity": "keep-drop-swapped"},
                points={"spatial_dropout": 7}),
        # adrita78/MyTorch-11785 mytorch/nn/dropout2d.py and the other CMU 11-785 files: an integer
        # binomial mask times x gives float64 for float32 input; here returned before the given cast.
        Variant("d2-dtype", "integer binomial mask, returned before the given cast: float64 out",
                regions={"spatial_dropout_forward": "mask = np.random.binomial(1, 1 - p, size=x.shape[:2] + (1, 1))\n"
                                                    "return x * mask / (1 - p), (dropout_param, mask / (1 - p))"},
                expected={"test_dtype_and_input_kept": "dtype-changed"}, points={"spatial_dropout": 9}),
        # phoebe97629/CMU-Deep-Learning_11785 mytorch/dropout.py: x *= mask, x /= keep: the
        # caller's array overwritten (here with a per-map mask).
        Variant("d2-in-place", "x multiplied in place by a per-map mask",
                regions={"spatial_dropout_forward": "mask = (np.random.rand(*x.shape[:2], 1, 1) >= p) / (1 - p)\n"
                                                    "x *= mask\nout = x"},
                expected={"test_dtype_and_input_kept": "input-modified"}, points={"spatial_dropout": 9}),
        # A pattern we wrote (not found in a named public file): backward draws its own mask.
        Variant("d2-new-mask-backward", "backward draws a fresh per-map mask",
                regions={"spatial_dropout_backward": 'p = dropout_param["p"]\n'
                                                     "fresh = (np.random.rand(*dout.shape[:2], 1, 1) >= p) / (1 - p)\n"
                                                     "dx = dout * fresh"},
                expected={"test_backward_reuses_forward_mask": "new-mask-in-backward"}, points={"spatial_dropout": 9}),
        # A pattern we wrote (not found in a named public file): an operator-precedence slip keeps all.
        Variant("d2-drops-nothing", "rand < (1 - p) / (1 - p): every map kept",
                regions={"spatial_dropout_forward": "mask = np.random.rand(*x.shape[:2], 1, 1) < (1 - p) / (1 - p)\n"
                                                    "out = x * mask"},
                expected={"test_train_statistics": "drops-nothing", "test_kept_maps_scaled": "drops-nothing",
                          "test_test_mode_identity": "drops-nothing",
                          **dict.fromkeys(SPATIAL_GATED, "drops-nothing")},
                points={"spatial_dropout": 0}),
    ]
    mc = [
        # A code-search excerpt that named no repository (torch: the softmax of each pass stacked,
        # then averaged), here in numpy.
        Variant("d2-mc-stacked", "softmax of each pass stacked, then averaged; entropy with a clipped log",
                regions={"mc_dropout_predict": _mc(BN_TEST
                                                   + "runs = []", SOFTMAX + "\nruns.append(probs)",
                                                   "mean_probs = np.mean(runs, axis=0)\n" + NATS)},
                points={"mc_dropout": 10}),
    ]
    mc_faults = [
        # ande765a/DTU-02514-Deep-Learning-in-Computer-Vision project2/montecarlo.py: the raw outputs
        # of the passes averaged; here the softmax comes after the average.
        Variant("d2-mc-logits", "class scores averaged over the passes, softmax of the average",
                regions={"mc_dropout_predict": _mc(BN_TEST
                                                   + "total = 0", "total = total + scores",
                                                   "scores = total / num_samples\n" + SOFTMAX
                                                   + "\nmean_probs = probs\n" + NATS)},
                expected={"test_mean_probabilities_match_the_expectation": "mc-averages-logits"},
                points={"mc_dropout": 6}),
        # A code-search excerpt that named no repository (torch: ``model.train()`` before the passes,
        # so batch norm uses the batch's statistics); the given code puts the modes back after.
        Variant("d2-mc-bn-train", "batch norm in train mode during the passes",
                regions={"mc_dropout_predict": _mc("for bn in model.bn_params:\n    bn['mode'] = 'train'\ntotal = 0",
                                                   SOFTMAX + "\ntotal = total + probs",
                                                   "mean_probs = total / num_samples\n" + NATS)},
                expected={"test_mean_probabilities_match_the_expectation": "mc-batchnorm-train-mode",
                          "test_model_left_as_it_was": "mc-batchnorm-train-mode",
                          "test_one_pass_and_no_dropout": "mc-batchnorm-train-mode"},
                points={"mc_dropout": 3}),
        # A pattern we wrote after CS231n's net, which hands its one (seeded) dropout_param to every
        # layer: that dict, switched to train mode, handed to every pass.
        Variant("d2-mc-model-seed", "the model's own dropout_param (seed included) handed to every pass",
                regions={"mc_dropout_predict": _mc(BN_TEST
                                                   + "total = 0\nparam = dict(model.dropout_param, mode='train')",
                                                   SOFTMAX + "\ntotal = total + probs",
                                                   "mean_probs = total / num_samples\n" + NATS)
                                                   .replace('{"mode": "train", "p": model.dropout_param["p"]}', "param")},
                expected={"test_mean_probabilities_match_the_expectation": "mc-same-mask-every-pass"},
                points={"mc_dropout": 6}),
        # A pattern we wrote (not found in a named public file): masks drawn once, before the loop,
        # and applied in every pass (dropout written inline instead of calling dropout_forward).
        Variant("d2-mc-mask-once", "one inline mask per layer drawn before the loop, reused by every pass",
                regions={"mc_dropout_predict": BN_TEST + "p = model.dropout_param.get('p', 0.0)\n"
                         "sizes = [model.params[f'W{i}'].shape[1] for i in range(1, model.num_layers)]\n"
                         "masks = [(np.random.rand(X.shape[0], size) >= p) / (1 - p) for size in sizes]\n"
                         "total = 0\nfor _ in range(num_samples):\n    h = X\n"
                         "    for i in range(1, model.num_layers):\n"
                         "        h = model._hidden_layer_forward(h, i)[0] * masks[i - 1]\n"
                         "    L = model.num_layers\n"
                         "    scores = h @ model.params[f'W{L}'] + model.params[f'b{L}']\n"
                         + "".join(f"    {line}\n" for line in SOFTMAX.split("\n"))
                         + "    total = total + probs\nmean_probs = total / num_samples\n" + NATS},
                expected={"test_mean_probabilities_match_the_expectation": "mc-same-mask-every-pass"},
                points={"mc_dropout": 6}),
        # A code-search excerpt that named no repository (the model put in eval mode for the passes, so
        # dropout is off); here ``model.loss(X)``, the course's test-mode forward pass.
        Variant("d2-mc-dropout-off", "T calls of model.loss(X): test mode, dropout off",
                regions={"mc_dropout_predict": "total = 0\nfor _ in range(num_samples):\n    scores = model.loss(X)\n"
                                               + "".join(f"    {line}\n" for line in SOFTMAX.split("\n"))
                                               + "    total = total + probs\nmean_probs = total / num_samples\n" + NATS},
                expected={"test_mean_probabilities_match_the_expectation": "mc-dropout-off",
                          **dict.fromkeys(MC_GATED, "mc-dropout-off"), "test_seed_reproduces_the_passes": "mc-dropout-off",
                          "test_one_pass_and_no_dropout": "mc-dropout-off"},
                points={"mc_dropout": 0}),
        # A code-search excerpt that named no repository (torch: ``model.train()`` before the passes
        # and no ``model.eval()`` after); here the dropout mode is set on the model and left there.
        Variant("d2-mc-modes-left", "model.dropout_param['mode'] set to 'train' and left so",
                regions={"mc_dropout_predict": _mc("for bn in model.bn_params:\n    bn['mode'] = 'test'\n"
                                                   "if model.use_dropout:\n    model.dropout_param['mode'] = 'train'\n"
                                                   "total = 0", SOFTMAX + "\ntotal = total + probs",
                                                   "mean_probs = total / num_samples\n" + NATS)},
                expected={"test_model_left_as_it_was": "mc-modes-not-restored"}, points={"mc_dropout": 8}),
        # A code-search excerpt that named no repository (scipy.stats.entropy(..., base=2) of the mean
        # prediction): the entropy in bits.
        Variant("d2-mc-bits", "the predictive entropy in bits (log2)",
                regions={"mc_dropout_predict": _mc(BN_TEST
                                                   + "total = 0", SOFTMAX + "\ntotal = total + probs",
                                                   "mean_probs = total / num_samples\n"
                                                   + NATS.replace("np.log(", "np.log2("))},
                expected={"test_entropy_of_the_mean_in_nats": "entropy-in-bits"}, points={"mc_dropout": 8}),
        # A pattern we wrote (not found in a named public file; the public files that compute the
        # mean entropy of the passes do so for the mutual information, beside the predictive entropy).
        Variant("d2-mc-entropy-each-pass", "the mean of the passes' entropies",
                regions={"mc_dropout_predict": _mc(BN_TEST
                                                   + "total = 0\nentropy = 0",
                                                   SOFTMAX + "\ntotal = total + probs\nentropy = entropy - np.sum("
                                                   "probs * np.log(np.clip(probs, 1e-300, None)), axis=1) / num_samples",
                                                   "mean_probs = total / num_samples")},
                expected={"test_entropy_of_the_mean_in_nats": "entropy-of-each-pass"}, points={"mc_dropout": 8}),
        # A pattern we wrote (not found in a named public file): p * log(p) with p = 0 gives nan.
        Variant("d2-mc-log-zero", "entropy -sum(p * log(p)): nan where a probability is 0",
                regions={"mc_dropout_predict": _mc(BN_TEST
                                                   + "total = 0", SOFTMAX + "\ntotal = total + probs",
                                                   "mean_probs = total / num_samples\n"
                                                   "with np.errstate(divide='ignore', invalid='ignore'):\n"
                                                   "    entropy = -np.sum(mean_probs * np.log(mean_probs), axis=1)")},
                expected={"test_entropy_of_the_mean_in_nats": "entropy-log-of-zero"}, points={"mc_dropout": 8}),
    ]
    return spatial, spatial_faults, mc, mc_faults
