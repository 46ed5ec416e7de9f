"""Commands that look into a generator: directions, sensitivity, the units inside G, inversion of an image."""
from __future__ import annotations

import sys
from pathlib import Path

from ..config import ConfigError
from .args import _animation_args, _direction_key, _positive, _run_of, _write_animation


def cmd_directions(args) -> int:
    import math
    from ..runs.checkpoint import resolve_generator
    from ..analysis.directions import save_directions, strip
    from ..imaging import make_grid, output_format, png_bytes, upscale
    from ..sampling import z_from_seed
    from ..analysis.semantics import find_directions, save_run_directions, weights_step
    if args.out is not None:
        output_format(args.out, ("JSON",))
    if args.strip is not None:
        output_format(args.strip, ("PNG",), "--strip")
    fmt = _animation_args(args)
    _positive("k", args.k, 1, 10_000)
    _positive("samples", args.samples, 20, 200_000)
    _positive("scale", args.scale, 1, 16)
    if args.strip is not None:
        _positive("columns", args.columns, 2, 64)
    if args.strip is not None or fmt is not None:
        from ..analysis.semantics import MAX_REACH
        if not (math.isfinite(args.reach) and 0 < args.reach <= MAX_REACH):
            raise ConfigError(f"--reach must be above 0 and at most {MAX_REACH:g}, not {args.reach}")
    elif args.direction is not None:
        raise ConfigError("--direction chooses --strip's or --animate's direction; add --strip PNG or --animate OUT")
    if args.out is None and Path(args.model).is_file():
        raise ConfigError(f"{args.model} is not a run directory: add --out PATH for the directions file")
    G = resolve_generator(args.model, args.step)
    z = z_from_seed(args.z_seed, G.z_dim)[0]

    said = set()

    def progress(done: int, total: int) -> None:  # two lines: halfway, and done
        mark = "done" if done >= total else "half" if done * 2 >= total else None
        if mark and mark not in said:
            said.add(mark)
            print(f"labelled {done}/{total} generated images with the evaluator's classifier", file=sys.stderr)

    run = _run_of(args.model)
    d = find_directions(G, run, args.method, k=args.k, z=z, samples=args.samples, seed=args.seed,
                        progress=progress, model_step=weights_step(run, args.step) if Path(args.model).is_dir()
                        else args.step)
    path = save_directions(args.out, d) if args.out is not None else save_run_directions(args.model, d)
    width = max(len(n) for n in d.names)
    print(f"{'#':>3}  {'name':{width}s}  {d.score_name}")
    for i, (name, score) in enumerate(zip(d.names, d.scores)):
        print(f"{i:>3}  {name:{width}s}  {score:.4g}")
    for name, why in d.metadata.get("skipped", {}).items():
        print(f"skipped {name}: {why}")
    print(f"wrote {path} ({len(d)} {args.method} directions)")
    if args.strip is None and fmt is None:
        return 0
    key = _direction_key(args.direction)
    if isinstance(key, int) and not 0 <= key < len(d):
        raise ConfigError(f"--direction {key} is outside 0..{len(d) - 1}")
    try:
        vector = d.vector(key)
    except KeyError as e:
        raise ConfigError(str(e.args[0])) from None
    name = d.names[key] if isinstance(key, int) else key
    if args.strip is not None:
        from ..runs.files import atomic_write_bytes
        images = strip(G, z, vector, -args.reach, args.reach, args.columns)
        atomic_write_bytes(Path(args.strip), png_bytes(upscale(make_grid(images, nrow=args.columns), args.scale)))
        print(f"wrote {args.strip} ({name!r}, {args.columns} images from -{args.reach:g} to +{args.reach:g}, "
              f"z seed {args.z_seed})")
    if fmt is not None:
        from ..analysis.animation import model_ref
        from ..analysis.line_animations import direction_animation
        result = direction_animation(G, z, vector, args.reach, args.frames, fmt, args.frame_ms, not args.no_loop,
                                     args.pingpong, args.scale,
                                     model=model_ref(args.model, args.step) if args.session_out else None)
        _write_animation(args, result, f"{name!r} from -{args.reach:g} to +{args.reach:g} at z seed {args.z_seed}")
    return 0


def cmd_sensitivity(args) -> int:
    from ..runs.checkpoint import resolve_generator
    from ..imaging import output_format, png_bytes, upscale
    from ..sampling import generate, z_from_seed
    from ..analysis.sensitivity import heatmap, heatmap_image, sensitivity, sensitivity_order
    _positive("top", args.top, 1, 100_000)
    if args.heatmap is None and args.out is not None:
        raise ConfigError("--out is where --heatmap's PNG goes; add --heatmap COMPONENT")
    args.out = args.out or "heatmap.png"
    if args.heatmap is not None:
        output_format(args.out, ("PNG",))
    G = resolve_generator(args.model, args.step)
    if args.heatmap is not None and not 0 <= args.heatmap < G.z_dim:
        raise ConfigError(f"--heatmap {args.heatmap} is outside 0..{G.z_dim - 1}")
    z = z_from_seed(args.seed, G.z_dim)
    s = sensitivity(G, z[0])
    order = sensitivity_order(s)[:args.top]
    print(f"|dG(z)/dz_i| at seed {args.seed}, the top {len(order)}:")
    print(f"{'component':>9}  sensitivity")
    for i in order:
        print(f"{int(i):>9}  {s[i]:.4g}")
    print(f"{len(s)} components, {int((s == 0).sum())} exactly 0 (ignored by G)")
    if args.heatmap is not None:
        heat = heatmap(G, z[0], args.heatmap)
        image = heatmap_image(heat, image=generate(G, z)[0])
        Path(args.out).write_bytes(png_bytes(upscale(image, 8)))
        print(f"wrote {args.out} (where component {args.heatmap} acts at seed {args.seed})")
    return 0


def cmd_units(args) -> int:
    from ..analysis.units import class_units, inside_view, layers, parse_units, run_classifier, units_figure
    from ..imaging import output_format, png_bytes
    from ..runs.checkpoint import resolve_generator
    from ..runs.rundir import RunDir
    from ..sampling import z_from_seed
    _positive("top", args.top, 1, 100_000)
    output_format(args.out, ("PNG",))
    G = resolve_generator(args.model, args.step)
    z = z_from_seed(args.seed, G.z_dim)[0]
    try:
        view = inside_view(G, z, args.layer, parse_units(args.off))
    except ValueError as e:
        names = "; ".join(layer.name for layer in layers(G))
        raise ConfigError(f"{e}. G's layers: {names}") from None
    Path(args.out).write_bytes(png_bytes(units_figure(view, f" (seed {args.seed})")))
    order = view.order[:args.top]
    print(f"{view.layer.name}, seed {args.seed}: the {len(order)} units whose removal changes G(z) most")
    print(f"{'unit':>5}  change (L2, pixels in [-1, 1])")
    for u in order:
        print(f"{u:>5}  {view.effect[u]:.4g}")
    if view.off:
        print(f"switched off: {', '.join(map(str, view.off))}")
    if args.class_units:
        if not Path(args.model).is_dir():
            raise ConfigError("--class-units needs a run directory (its dataset names the evaluator)")
        label_fn, names = run_classifier(RunDir.at(args.model))
        effect = class_units(G, z, view.layer.index, label_fn, names, top=args.top)
        print(f"the classifier calls G(z) {effect.label!r}, P({effect.target}) = {effect.score:.3f}; "
              "switched off alone, these units lower it most:")
        print(f"{'unit':>5}  {'P after':>8}  classified as")
        for row in effect.units:
            print(f"{row.unit:>5}  {row.score:>8.3f}  {row.label}")
    print(f"wrote {args.out}")
    return 0


def cmd_invert(args) -> int:
    import numpy as np
    import math
    from ..analysis.inversion import (MAX_CANDIDATES, MAX_FEATURE_WEIGHT, MAX_STARTS, MAX_STEPS, feature_classifier,
                                     held_out_image,
                                     invert, latent_record, prepare_target, references, save_latent,
                                     target_framing)
    from ..analysis.semantics import weights_step
    from ..imaging import MAX_UPLOAD_BYTES, make_grid, output_format, png_bytes, upscale
    from ..runs.checkpoint import resolve_generator
    from ..runs.files import atomic_write_bytes, json_text
    from ..runs.rundir import RunDir
    output_format(args.out, ("JSON",))
    if args.png is not None:
        output_format(args.png, ("PNG",), "--png")
    if (args.image is None) == (args.test_image is None):
        raise ConfigError("give an IMAGE file or --test-image K (one of them)")
    if args.reframe and args.image is None:
        raise ConfigError("--reframe frames an IMAGE file; a test image is framed as its data set's are already")
    _positive("starts", args.starts, 1, MAX_STARTS)
    _positive("steps", args.steps, 1, MAX_STEPS)
    _positive("candidates", args.candidates, 0, MAX_CANDIDATES)
    if not Path(args.run).is_dir():
        raise ConfigError(f"{args.run} is not a run directory (inversion reads the run's references and data)")
    run = RunDir.at(args.run)
    if args.save_as is not None:
        run.latent_path(args.save_as)  # a bad name is refused before the search, not after
    if not (math.isfinite(args.feature_weight) and 0 <= args.feature_weight <= MAX_FEATURE_WEIGHT):
        raise ConfigError(f"--feature-weight must be from 0 to {MAX_FEATURE_WEIGHT:g}, not {args.feature_weight}")
    classifier = feature_classifier(run) if args.feature_weight > 0 else None  # refused before G is loaded
    G = resolve_generator(args.run, args.step)
    framing = target_framing(G, run) if args.reframe else None
    if args.reframe and framing is None:
        raise ConfigError(f"--reframe is for 28 px grey models that draw on black (MNIST, Fashion-MNIST); "
                          f"{run.name}'s is {G.image_size} px {'grey' if G.channels == 1 else 'RGB'}"
                          + (" on a background that is not black" if (G.image_size, G.channels) == (28, 1) else ""))
    if args.image is not None:
        if Path(args.image).is_file() and Path(args.image).stat().st_size > MAX_UPLOAD_BYTES:
            raise ValueError(f"{args.image}: over {MAX_UPLOAD_BYTES / 1e6:.0f} MB, too large for an image here")
        try:
            prepared = prepare_target(G, Path(args.image).read_bytes(), framing)
        except ValueError as e:
            raise ValueError(f"{args.image}: {e}") from None
        target, source = prepared.image, f"image {Path(args.image).name}"
        for note in prepared.notes:
            print(note)
    else:
        target = held_out_image(run, args.test_image, G.image_size, G.channels)
        source = f"test image {args.test_image}"
    result = invert(G, target, starts=args.starts, steps=args.steps, seed=args.seed, classifier=classifier,
                    feature_weight=args.feature_weight, candidates=args.candidates)
    refs = references(G, run, args.step, starts=args.starts, steps=args.steps, candidates=args.candidates)
    if classifier is not None:  # the references search on pixels alone: say what this search did differently
        print(f"loss: pixel error + {args.feature_weight:g} x the classifier's feature error (the error below is "
              "the pixel error; the references' searches used pixels alone)")
    print(f"{source}: {refs.text(result.error)}; {result.steps} steps, {result.seconds:.1f} s")
    record = latent_record(result, source, weights_step(run.path, args.step))
    atomic_write_bytes(Path(args.out), (json_text(record) + "\n").encode())
    print(f"wrote {args.out}")
    if args.save_as is not None:
        print(f"saved with the run as {save_latent(run, args.save_as, record, target)}, its target image as "
              f"{run.latent_target_path(args.save_as)}")
    if args.png is not None:
        pair = make_grid(np.stack([target, result.image]), nrow=2)
        atomic_write_bytes(Path(args.png), png_bytes(upscale(pair, max(1, 256 // G.image_size))))
        print(f"wrote {args.png} (the target, then G(z))")
    return 0
