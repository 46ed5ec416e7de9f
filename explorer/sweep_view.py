"""The Latent page's sweep section: chosen z components, each across a range of values, as one labelled grid;
and one of them across that range as an animation in any format, with its session file."""
from __future__ import annotations

import numpy as np
import streamlit as st

from dcgan.analysis.line_animations import sweep_animation
from dcgan.analysis.views import image_png, sweep_grid
from dcgan.sampling import SWEEP_LIMIT
from explorer.common import bounded_number, progress_callback, show_image
from explorer.export_options import model_of
from explorer.line_export import file_stem, line_export

SHOWN_PX = 900  # about the wide layout's main column: a wider grid is scaled down to it, its labels drawn larger
MAX_SCALE = 3


def sweep_section(G, z, model_key: tuple, sel) -> None:
    """The sweep form, and the last sweep made of this model (kept in session_state across reruns)."""
    st.divider()
    st.subheader("Sweep")
    st.caption("Rows are z components, columns are values across the range; every other component stays at "
               "the current z.")
    with st.form("sweep_form"):
        f1, f2, f3, f4 = st.columns([3, 1, 1, 1])
        components = f1.multiselect("Components", list(range(G.z_dim)), default=list(range(min(8, G.z_dim))))
        low = bounded_number(f2, "From", -SWEEP_LIMIT, SWEEP_LIMIT, -3.0, key="sweep_low", step=0.5)
        high = bounded_number(f3, "To", -SWEEP_LIMIT, SWEEP_LIMIT, 3.0, key="sweep_high", step=0.5)
        columns = bounded_number(f4, "Columns", 2, 32, 9, key="sweep_columns", step=1)
        swept = st.form_submit_button("Sweep", type="primary")
    if swept:
        if None in (low, high, columns):
            st.error("Fix the fields marked above, then sweep again.")
        elif not components:
            st.error("Choose at least one component to sweep.")
        elif not low < high:
            st.error(f"'From' ({low}) must be below 'To' ({high}).")
        else:
            # as large as fits the column, so the labels need not grow far
            scale = max(1, min(MAX_SCALE, SHOWN_PX // ((G.image_size + 2) * int(columns))))
            progress, bar = progress_callback("Rendering the sweep…")
            try:
                grid = sweep_grid(G, z, sorted(components), low, high, int(columns), scale=scale, progress=progress,
                                  shown_px=SHOWN_PX)
            except ValueError as e:
                st.error(str(e))
            else:
                st.session_state["latent_sweep"] = {"png": image_png(grid), "components": sorted(components),
                                                    "model": model_key, "low": low, "high": high,
                                                    "z": np.asarray(z, np.float32).copy()}
            bar.empty()
    sweep = st.session_state.get("latent_sweep")
    if sweep and sweep["model"] == model_key:  # a sweep of another model would mislead
        show_image(sweep["png"], caption=f"rows: components {', '.join(map(str, sweep['components']))}; "
                                         f"columns: their value from {sweep['low']:g} to {sweep['high']:g}")
        st.download_button("Sweep PNG", sweep["png"], file_name="sweep.png", mime="image/png", on_click="ignore")
        animation_section(G, sweep, sel)


def animation_section(G, sweep: dict, sel) -> None:
    """One of the swept components across the sweep's range, as an animation of the z the grid was made at."""
    component = st.selectbox("Animate one component", sweep["components"], format_func=lambda c: f"z[{c}]",
                             key="sweep_anim_component", help="its value from 'From' to 'To' as frames, every other "
                                                              "component held at the z of the grid above")
    line_export("sweep_anim", f"Animate z[{component}] from {sweep['low']:g} to {sweep['high']:g}",
                (*sweep["model"], sweep["z"].tobytes(), component, sweep["low"], sweep["high"]),
                lambda n, c, progress: sweep_animation(G, sweep["z"], component, sweep["low"], sweep["high"], n, c.fmt,
                                                       c.frame_ms, c.loop, c.pingpong, c.scale, model_of(sel),
                                                       progress),
                file_stem(sel.run.name, f"z{component}"))
