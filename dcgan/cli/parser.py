"""The command line's parser: every command and its flags (a TrainConfig field's flag comes from the schema)."""
from __future__ import annotations

import argparse

from ..config import DATASET_SPECS, IMAGE_SIZES
from .args import (DEFAULT_CHECKPOINTS, _add_config_flags, _add_resume_flags, _animation_flags, _generator_arg,
                   _Parser)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m dcgan", description="Train and explore DCGANs.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("train", help="start a new run")
    p.add_argument("--config", help="JSON file with config fields; flags override it")
    p.add_argument("--checkpoints", default=DEFAULT_CHECKPOINTS, help="folder that holds run directories")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_config_flags(p)

    p = sub.add_parser("resume", help="continue a stopped or finished run")
    p.add_argument("run_name")
    p.add_argument("--checkpoints", default=DEFAULT_CHECKPOINTS)
    group = p.add_mutually_exclusive_group()
    group.add_argument("--steps", type=int, help="new total number of steps")
    group.add_argument("--more", type=int, help="this many steps beyond the last checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    _add_resume_flags(p)

    p = sub.add_parser("stop", help="ask a running run to stop after its next step")
    p.add_argument("run_name")
    p.add_argument("--checkpoints", default=DEFAULT_CHECKPOINTS)

    p = sub.add_parser("runs", help="list runs and their state")
    p.add_argument("--checkpoints", default=DEFAULT_CHECKPOINTS)

    p = sub.add_parser("delete", help="delete a run folder and all its files (not the shipped models)")
    p.add_argument("run_name")
    p.add_argument("--checkpoints", default=DEFAULT_CHECKPOINTS)
    p.add_argument("--yes", action="store_true", help="really delete it (required)")

    p = sub.add_parser("sample", help="PNG grid of G(z) for consecutive seeds")
    _generator_arg(p)
    p.add_argument("--seed", type=int, default=0, help="first seed; image i uses seed+i")
    p.add_argument("-n", "--count", type=int, default=64)
    p.add_argument("--nrow", type=int, default=None)
    p.add_argument("--scale", type=int, default=2, help="nearest-neighbour upscaling factor")
    p.add_argument("--out", default="samples.png")

    p = sub.add_parser("interpolate", help="animation (GIF, MP4, WebP, APNG, ZIP of PNGs) from one seed's z to "
                                           "another's, or a seamless loop through several")
    _generator_arg(p)
    p.add_argument("--seed-a", type=int, default=0)
    p.add_argument("--seed-b", type=int, default=1)
    p.add_argument("--loop-through", default=None, metavar="SEEDS",
                   help="instead of seed-a -> seed-b: a seamless slerp loop through these seeds' z and back to "
                        "the first, e.g. 1,7,3 (3 or more; the last frame leads into the first)")
    p.add_argument("--frames", type=int, default=64)
    p.add_argument("--method", choices=["slerp", "lerp"], default=None, help="the path [slerp; lerp with --direction]")
    timing = p.add_mutually_exclusive_group()
    timing.add_argument("--frame-ms", type=int, default=None, help="each frame's duration, 20 to 10000 ms [80]")
    timing.add_argument("--fps", type=float, default=None, help="frames per second instead (0.1 to 50)")
    p.add_argument("--no-loop", action="store_true", help="play once instead of looping (MP4 keeps no such flag)")
    p.add_argument("--pingpong", action="store_true", help="play forward then backward")
    p.add_argument("--scale", type=int, default=4, help="nearest-neighbour upscaling factor, 1 to 16")
    p.add_argument("--session-out", default=None, metavar="JSON",
                   help="also write the session file: `render` makes the same animation from it, byte for byte")
    p.add_argument("--direction", default=None, metavar="NAME",
                   help="instead of seed-a -> seed-b: along a direction the run keeps (`directions`), from "
                        "seed-a's z - reach x d to z + reach x d, e.g. 'toward 7' or 'SeFa 1'")
    p.add_argument("--reach", type=float, default=4.0, help="--direction: how far each way, in units of z")
    p.add_argument("--out", default="interpolation.gif", help="the suffix picks the format: .gif .mp4 .webp .apng "
                                                              ".zip (PNG frames)")

    p = sub.add_parser("render", help="make the animation a session file describes (interpolate --session-out), "
                                      "byte for byte")
    p.add_argument("session", help="the session JSON file")
    p.add_argument("--model", default=None, help="the model, if not where the session says (the hash must match)")
    p.add_argument("--out", default=None, help="the file to write [the session's name with its format's suffix]")

    p = sub.add_parser("sweep", help="grid: rows = z components, columns = values (others fixed)")
    _generator_arg(p)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--components", default=None, help="comma-separated indices [0,1,...,7; with --animate: 0]")
    p.add_argument("--most-sensitive", type=int, default=None, metavar="N",
                   help="instead of --components: the N components that move G(z) most at this seed's z, "
                        "most first (the Latent page's 'most sensitive first')")
    p.add_argument("--low", type=float, default=-3.0)
    p.add_argument("--high", type=float, default=3.0)
    p.add_argument("--columns", type=int, default=12)
    p.add_argument("--scale", type=int, default=None, help="nearest-neighbour upscaling, 1 to 16 [grid 2; --animate 4]")
    p.add_argument("--out", default=None, help="the grid PNG [sweep.png; with --animate, only if given]")
    _animation_flags(p, "one component from --low to --high, the others held: the one --components names, or "
                        "with --most-sensitive the most sensitive")

    p = sub.add_parser("directions", help="directions in z that mean something (SeFa, labelled by the evaluator's "
                                          "classifier, local at one z), saved with the run")
    _generator_arg(p)
    p.add_argument("--method", choices=["sefa", "labels", "local"], default="sefa",
                   help="sefa: closed form from the first layer; labels: 'toward <class>' boundaries "
                        "(MNIST, Fashion-MNIST, labelled folders); local: fastest-changing at --z-seed's z [sefa]")
    p.add_argument("--k", type=int, default=10, help="how many directions (sefa, local; at most z_dim)")
    p.add_argument("--samples", type=int, default=5000, help="labels: generated images the boundaries are fitted on")
    p.add_argument("--seed", type=int, default=0, help="labels: seed of the sampled z")
    p.add_argument("--z-seed", type=int, default=0, help="the z of local directions and of --strip")
    p.add_argument("--out", default=None, help="directions JSON file (default: <run>/directions_<method>.json)")
    p.add_argument("--strip", default=None, metavar="PNG", help="also write a strip of one direction as a PNG")
    p.add_argument("--direction", default=None, help="--strip's direction: its name or index [0]")
    p.add_argument("--reach", type=float, default=4.0, help="--strip goes from -reach to +reach along it")
    p.add_argument("--columns", type=int, default=9, help="--strip's images")
    p.add_argument("--scale", type=int, default=4, help="--strip's and --animate's upscaling, 1 to 16 [4]")
    _animation_flags(p, "--direction at --z-seed's z from -reach to +reach")

    p = sub.add_parser("sensitivity", help="which z components change G(z) most at one z; "
                                           "a heat map of where one acts")
    _generator_arg(p)
    p.add_argument("--seed", type=int, default=0, help="the z: z_from_seed(seed)")
    p.add_argument("--top", type=int, default=10, help="how many components to list")
    p.add_argument("--heatmap", type=int, default=None, metavar="COMPONENT",
                   help="also write where this component acts, over G(z), as a PNG")
    p.add_argument("--out", default=None, help="--heatmap's PNG [heatmap.png]")

    p = sub.add_parser("units", help="inside G (GAN Dissection): a layer's units as feature maps, ranked by how much "
                                     "switching each off changes G(z), and G(z) with chosen units off, as a PNG")
    _generator_arg(p)
    p.add_argument("--seed", type=int, default=0, help="the z: z_from_seed(seed) [0]")
    p.add_argument("--layer", type=int, required=True, help="G's layer, 1 to its number of blocks (the output of "
                                                            "each block's ReLU; a layer out of range lists them)")
    p.add_argument("--off", default="", metavar="UNITS", help="units to switch off together, e.g. 3,7")
    p.add_argument("--top", type=int, default=10, help="how many of the most effective units to list [10]")
    p.add_argument("--class-units", action="store_true",
                   help="also list the units whose removal most lowers the evaluator's class (faces: the smile "
                        "score)")
    p.add_argument("--out", default="units.png", help="the figure, as the Learn page draws it [units.png]")

    p = sub.add_parser("invert", help="find the z whose G(z) looks most like an image (yours, or a real test "
                                      "image); prints its error beside G's own and real images'")
    p.add_argument("run", help="a run directory, e.g. checkpoints/mnist")
    p.add_argument("image", nargs="?", default=None, help="PNG, JPEG, WebP, GIF or BMP (any size: centre-cropped, "
                                                          "resized, grey or RGB as the model is)")
    p.add_argument("--test-image", type=int, default=None, metavar="K",
                   help="instead of IMAGE: the run's real held-out image K (MNIST / Fashion: the test split)")
    p.add_argument("--step", type=int, default=None, help="a snapshot step of the run (default: latest generator)")
    p.add_argument("--out", default="z.json", help="the z as JSON, as the Latent page's upload reads it [z.json]")
    p.add_argument("--starts", type=int, default=8, help="random starts searched at once [8]")
    p.add_argument("--steps", type=int, default=200, help="Adam steps [200]")
    p.add_argument("--seed", type=int, default=0, help="seed of the starts [0]")
    p.add_argument("--candidates", type=int, default=256, metavar="N",
                   help="random z's scored before the search, which starts from the best of them; 0: random "
                        "starts [256]")
    p.add_argument("--feature-weight", type=float, default=0.0, metavar="W",
                   help="add W x the evaluator classifier's feature error to the pixel error, 0 to 10 (MNIST, "
                        "Fashion-MNIST, labelled folders; 0.1 kept 19 of 20 real garments' class against 16) [0]")
    p.add_argument("--reframe", action="store_true",
                   help="frame IMAGE as the data set's images were made (28 px grey models that draw on black): "
                        "the ink's box fitted to 20 px and centred by its centre of mass (MNIST), or fitted to "
                        "28 px and centred (Fashion-MNIST); for a digit drawn small or off-centre")
    p.add_argument("--save-as", default=None, metavar="NAME",
                   help="also keep the z with the run as latents/NAME.json, its target image as latents/NAME.png")
    p.add_argument("--png", default=None, help="also write the target beside G(z) as a PNG")

    p = sub.add_parser("stats", help="PNG chart of a run's losses, D accuracies and learning rates")
    p.add_argument("run", help="a run directory, e.g. checkpoints/faces")
    p.add_argument("--smooth", type=int, default=None, help="trailing-mean window in steps (default ~1 %% of the run)")
    p.add_argument("--out", default="stats.png")

    p = sub.add_parser("card", help="write MODEL_CARD.md into a run from its config, metrics and eval.json")
    p.add_argument("run", help="a run directory, e.g. checkpoints/faces")
    p.add_argument("--data-note", default="", help="where the training data came from (default: by dataset)")
    p.add_argument("--notes", default="", help="free text appended to the card")

    p = sub.add_parser("evaluate", help="FID (domain classifier), coverage, precision/recall, memorisation; "
                                        "writes eval.json into the run")
    _generator_arg(p)
    p.add_argument("--samples", type=int, default=None,
                   help="generated images (default 2000; 26000 for stacked-mnist, as in PacGAN)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated images' z and the real subsets")
    p.add_argument("--evaluator", default=None, help="classifier .safetensors (default: shipped one for the run's dataset)")
    p.add_argument("--data-root", default=None, help="the real data (default: the run's)")
    p.add_argument("--no-memorisation", action="store_true", help="skip the nearest-training-image search")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--no-save", action="store_true", help="do not write eval.json into the run directory")
    p.add_argument("--save", action="store_true",
                   help="rewrite eval.json even when it already holds these figures (by default it is then "
                        "left as it was, so evaluating a shipped model changes none of a clone's files)")

    p = sub.add_parser("import", help="make a run from a DCGAN generator state_dict trained elsewhere")
    p.add_argument("path", help="e.g. pytorch/examples' netG_epoch_24.pth, or a .safetensors file")
    p.add_argument("--run-name", default=None, help="default: the file's name without its suffix")
    p.add_argument("--checkpoints", default=DEFAULT_CHECKPOINTS)

    p = sub.add_parser("train-evaluator", help="train the evaluator's classifier on real MNIST / Fashion-MNIST, "
                                               "or on a labelled image folder (the faces' smiling / not smiling)")
    p.add_argument("--dataset", choices=[name for name, s in DATASET_SPECS.items() if s.per_image_class],
                   default="mnist")
    p.add_argument("--data-root", default="data")
    p.add_argument("--image-folder", default="", help="for --dataset folder: one sub-folder per class")
    p.add_argument("--name", default=None, help="for --dataset folder: the evaluator's file name, e.g. faces")
    p.add_argument("--image-size", type=int, default=32, choices=IMAGE_SIZES,
                   help="for --dataset folder: the classifier's input size (images of any size are resized to it)")
    p.add_argument("--epochs", type=int, default=None,
                   help="default: what the shipped ones used (2 MNIST, 3 Fashion, 8 faces)")
    return parser
