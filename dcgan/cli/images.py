"""Commands that draw from a generator: sample grids, interpolations, sessions rendered again, sweeps."""
from __future__ import annotations

from pathlib import Path

from ..config import ConfigError
from .args import _animation_args, _frame_ms, _positive, _run_of, _seed_list, _write_animation


def cmd_sample(args) -> int:
    from ..runs.checkpoint import resolve_generator
    from ..imaging import make_grid, output_format, png_bytes, upscale
    from ..sampling import generate, z_from_seed
    import torch
    output_format(args.out, ("PNG",))
    _positive("count", args.count, 1, 1024)
    G = resolve_generator(args.model, args.step)
    z = torch.cat([z_from_seed(args.seed + i, G.z_dim) for i in range(args.count)])
    grid = upscale(make_grid(generate(G, z), args.nrow), _positive("scale", args.scale, 1, 16))
    Path(args.out).write_bytes(png_bytes(grid))
    print(f"wrote {args.out} ({args.count} images, seeds {args.seed}..{args.seed + args.count - 1})")
    return 0


def cmd_interpolate(args) -> int:
    from ..runs.checkpoint import resolve_generator
    from ..analysis.animation import model_ref
    from ..analysis.views import interpolation
    from ..imaging import output_format
    from ..media import animation_file_format
    from ..runs.files import atomic_write_bytes
    from ..sampling import z_from_seed
    fmt = animation_file_format(args.out)
    if args.session_out:
        output_format(args.session_out, ("JSON",), "--session-out")
    _positive("frames", args.frames, 2, 1000)
    frame_ms = _frame_ms(args)
    _positive("scale", args.scale, 1, 16)
    seeds = [args.seed_a, args.seed_b]
    if args.loop_through is not None:
        seeds = _seed_list(args.loop_through)
        if args.direction is not None or args.method == "lerp":
            raise ConfigError("--loop-through is a slerp loop through seeds: leave out --direction and --method lerp")
    G = resolve_generator(args.model, args.step)
    zs = [z_from_seed(s, G.z_dim)[0] for s in seeds]
    path = f"{args.method or 'slerp'}, seed {args.seed_a} -> {args.seed_b}"
    if args.loop_through is not None:
        path = f"seamless loop through seeds {', '.join(map(str, seeds))}"
    if args.direction is not None:
        from ..analysis.semantics import direction_endpoints, saved_direction
        if args.method == "slerp":
            raise ConfigError("--direction goes along a straight line: leave out --method (or use lerp)")
        zs = list(direction_endpoints(zs[0], saved_direction(_run_of(args.model), G.z_dim, args.direction), args.reach))
        seeds = None  # the endpoints are no seed's z: the session keeps them as numbers
        args.method, path = "lerp", f"along {args.direction!r} through seed {args.seed_a}'s z, ±{args.reach:g}"
    model = model_ref(args.model, args.step) if args.session_out else None
    result = interpolation(G, zs[0], zs[1], frames=args.frames, method=args.method or "slerp", frame_ms=frame_ms,
                           loop=not args.no_loop, pingpong=args.pingpong, scale=args.scale, fmt=fmt,
                           through=zs[2:], seeds=seeds, model=model)
    atomic_write_bytes(Path(args.out), result.data)
    print(f"wrote {args.out} ({fmt}, {args.frames} frames of {frame_ms} ms, {path})")
    if args.session_out:
        atomic_write_bytes(Path(args.session_out), result.session.to_json().encode())
        print(f"wrote {args.session_out} (render it: python -m dcgan render {args.session_out})")
    return 0


def cmd_render(args) -> int:
    from ..analysis.animation import SessionError, read_session, render_file
    from ..media import animation_file_format, suffix
    from ..runs.files import atomic_write_bytes
    try:
        data = Path(args.session).read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"session file {args.session} is not there") from None
    except IsADirectoryError:
        raise ConfigError(f"{args.session} is a folder, not a session file") from None
    try:
        fmt = read_session(data).format  # the file name is checked before any work, as every command does
        out = Path(args.out) if args.out else Path(args.session).with_suffix(suffix(fmt))
        if animation_file_format(out) != fmt:
            raise ConfigError(f"--out {out}: the session's format is {fmt}; name the file *{suffix(fmt)}")
        result = render_file(data, args.model)
    except SessionError as e:
        raise ConfigError(f"{args.session}: {e}") from None
    atomic_write_bytes(out, result.data)
    print(f"wrote {out} ({result.format}, {result.played_frames} frames, {len(result.data):,} bytes)")
    return 0


def cmd_sweep(args) -> int:
    import numpy as np
    from ..runs.checkpoint import resolve_generator
    from ..imaging import make_grid, output_format, png_bytes, upscale
    from ..runs.files import atomic_write_bytes
    from ..sampling import generate, sweep, z_from_seed
    fmt = _animation_args(args)  # every file name is checked before any work
    grid_out = args.out if args.out is not None else None if fmt is not None else "sweep.png"
    if grid_out is not None:
        output_format(grid_out, ("PNG",))
    scale = _positive("scale", args.scale if args.scale is not None else 2 if fmt is None else 4, 1, 16)
    if args.components is None:  # the grid's eight rows; an animation alone sweeps one
        args.components = "0,1,2,3,4,5,6,7" if grid_out is not None else "0"
    if fmt is not None:
        if not (np.isfinite(args.low) and np.isfinite(args.high) and args.low < args.high):
            raise ConfigError(f"--low must be below --high (finite numbers), not {args.low} and {args.high}")
        if args.most_sensitive is None and "," in args.components.strip(" ,") and grid_out is None:
            raise ConfigError(f"--animate sweeps one component; --components {args.components!r} names several "
                              "(give one, e.g. --components 3, or add --out PNG for their grid: the first is animated)")
    G = resolve_generator(args.model, args.step)
    z0 = z_from_seed(args.seed, G.z_dim)
    if args.most_sensitive is not None:
        from ..analysis.sensitivity import sensitivity, sensitivity_order
        top = _positive("most-sensitive", args.most_sensitive, 1, 64)  # before the Jacobian, not after
        components = [int(c) for c in sensitivity_order(sensitivity(G, z0[0]))[:top]]
    else:
        try:
            components = [int(c) for c in args.components.split(",") if c.strip()]
        except ValueError:
            raise ConfigError(f"--components must be comma-separated integers, not {args.components!r}") from None
    if grid_out is not None:
        values = np.linspace(args.low, args.high, _positive("columns", args.columns, 2, 64))
        z = sweep(z0, components, values)
        grid = upscale(make_grid(generate(G, z), nrow=len(values)), scale)
        atomic_write_bytes(Path(grid_out), png_bytes(grid))  # a full disk leaves no half PNG
        print(f"wrote {grid_out} (components {','.join(map(str, components))} x {len(values)} values)")
    if fmt is not None:
        from ..analysis.animation import model_ref
        from ..analysis.line_animations import sweep_animation
        if not components:
            raise ConfigError("--components names no component to animate")
        result = sweep_animation(G, z0[0], components[0], args.low, args.high, args.frames, fmt, args.frame_ms,
                                 not args.no_loop, args.pingpong, scale,
                                 model=model_ref(args.model, args.step) if args.session_out else None)
        _write_animation(args, result, f"z[{components[0]}] from {args.low:g} to {args.high:g} at seed {args.seed}")
    return 0
