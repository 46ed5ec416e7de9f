"""Pages that explain themselves (issue 35): every page opens with its intro, open on the first visit of a browser
session and closed on the next; the notes under the charts say, in the run's own numbers, that D wins."""
from __future__ import annotations

import json

from streamlit.testing.v1 import AppTest

from apptestkit import open_app
from dcgan.runs.rundir import RunDir
from explorer.intro import INTROS, LABEL, TOUR

PAGES = ["latent", "interpolate", "directions", "invert", "learn", "train", "progress", "quality"]


def intro(at: AppTest):
    """The page's intro expander (exactly one, the first expander on the page)."""
    found = [e for e in at.expander if e.label == LABEL]
    assert len(found) == 1 and at.expander[0].label == LABEL, [e.label for e in at.expander]
    return found[0]


def go(at: AppTest, page: str) -> AppTest:
    at.switch_page(f"explorer/{page}.py").run()
    assert not at.exception, (page, at.exception)
    return at


def test_every_page_opens_with_its_intro_on_the_first_visit_and_closed_on_the_next(app_checkpoints):
    assert sorted(INTROS) == sorted(PAGES) and {key for key, *_ in TOUR} <= set(PAGES)
    at = open_app()  # the app opens on Latent
    box = intro(at)
    assert box.proto.expanded and INTROS["latent"] in [m.value for m in box.markdown]
    at.slider(key="z_3").set_value(3.0).run()  # a rerun of the same visit keeps it open
    assert intro(at).proto.expanded
    for page in PAGES[1:]:
        box = intro(go(at, page))
        assert box.proto.expanded, f"{page}: closed on the first visit"
        assert INTROS[page] in [m.value for m in box.markdown], page
    for page in PAGES:
        assert not intro(go(at, page)).proto.expanded, f"{page}: still open on the second visit"


def test_the_tour_goes_from_page_to_page(app_checkpoints):
    at = open_app()
    box = intro(at)
    assert any(m.value.startswith(":material/tour: **Tour, step 1 of 7.**") for m in box.markdown)
    links = [e for e in box.get("page_link")]
    assert [link.proto.label for link in links] == ["Next step: Interpolate"]
    box = intro(go(at, "invert"))  # outside the tour: the way in
    assert [link.proto.label for link in box.get("page_link")] == ["Start the tour: Latent"]
    box = intro(go(at, "quality"))  # the last step leads nowhere
    assert any("**Tour, step 7 of 7.**" in m.value for m in box.markdown) and not box.get("page_link")


def d_wins(run: RunDir, steps: int = 400, won_from: int = 101) -> None:
    """Replace the run's metrics.jsonl with steps records in which D is right about every fake from won_from on."""
    lines = []
    for step in range(1, steps + 1):
        won = step >= won_from
        lines.append(json.dumps({"step": step, "epoch": step / 100, "time": 1e9 + step,
                                 "loss_d": 0.05 if won else 1.3, "loss_g": 4.0 if won else 0.8,
                                 "acc_real": 1.0 if won else 0.7, "acc_fake": 1.0 if won else 0.7,
                                 "lr_d": 2e-4, "lr_g": 2e-4}))
    run.metrics_path.write_text("\n".join(lines) + "\n")


def warnings(at: AppTest) -> list[str]:
    return [w.value for w in at.warning]


def test_the_notes_under_the_charts_say_d_wins_in_the_runs_numbers(app_checkpoints):
    run = RunDir(app_checkpoints / "tiny")
    at = open_app("train")
    # the tiny run's own 12 steps: too few to say
    assert any(c.value.endswith("Only 12 steps so far: too few to say how training goes (these notes start after "
                                "50 steps).") for c in at.caption)
    d_wins(run)
    at = open_app("train")
    said = "D's accuracy on fakes has been above 0.99 for 300 steps (since step 101): D wins too easily"
    assert any(w.startswith(said) for w in warnings(at)), warnings(at)
    assert any(w.startswith(said) for w in warnings(go(at, "progress"))), warnings(at)
    # the Quality page adds what the evaluator's coverage says
    records = [{"step": 100, "images": 500, "classes_covered": 10, "class_kl": 0.02, "class_share": [0.1] * 10,
                "floor": {"classes_covered": 10, "class_kl": 0.01}},
               {"step": 400, "images": 500, "classes_covered": 3, "class_kl": 1.2,
                "class_share": [0.4, 0.3, 0.3] + [0.0] * 7, "floor": {"classes_covered": 10, "class_kl": 0.01}}]
    run.eval_log_path.write_text("".join(json.dumps(r) + "\n" for r in records))
    go(at, "quality")
    assert any(w.startswith(said) for w in warnings(at)), warnings(at)
    assert any(w.startswith("At step 400 G's images cover 3 of the 10 classes, down from 10 at step 100")
               for w in warnings(at)), warnings(at)
