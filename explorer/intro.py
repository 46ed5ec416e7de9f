"""What every page says about itself: its intro (what it shows, how to read it) in an expander open on the first
visit of a browser session and closed after, and the guided tour's step on it. Every page's words are here, in
INTROS and TOUR, and nowhere else.

An expander, not a popover: a newcomer sees the words without knowing to look for them, and they stay one click
away, in the same place on every page, once they are known; a popover hides them until asked and floats over the
page's own controls when it is open.
"""
from __future__ import annotations

import streamlit as st

LABEL = "About this page"
VISITS_KEY = "intro_visits"  # page -> how many visits this browser session has made to it
SHOWN_KEY = "intro_page"  # the page the last full run of the script showed: a different one starts a visit

INTROS = {
    "latent": "Every image here is G(z): the generator G turns a list of numbers, z, into a picture, one slider "
              "per number. Move a slider and watch which part of the image changes; a seed picks a whole random z, "
              "and the same seed gives the same image everywhere in the app. A sweep lays one component's range out "
              "as a row of images.",
    "interpolate": "A walk from one z to another, frame by frame: smooth, believable in-betweens mean G learnt a "
                   "continuous space rather than a list of training images. Each end is a seed, the Latent page's z "
                   "or a z saved with the run; slerp keeps every frame at the length a typical z has, lerp draws a "
                   "straight line whose middle frames are often fainter. The frames come as a grid and as an "
                   "animation to download.",
    "directions": "Some directions in z mean something. SeFa finds them in G's own weights, labelled ones from a "
                  "classifier (toward a class), local ones from how G reacts at this one z. Move the current z along "
                  "the chosen direction and see what changes; the strip shows it from −a to +a, the heat map where in "
                  "the image it acts, and at the bottom the discriminator D says how real it finds the image.",
    "invert": "The way back from a picture to z: draw one or upload one, and a search (Adam over z from several "
              "starts) finds the z whose G(z) looks most like it. Read its error against the two references beside "
              "it: close to G's own images means G can draw your picture; close to real images' or worse means it "
              "lies outside what G learnt. A found z can be edited on the Latent page or morphed on Interpolate.",
    "learn": "This run's own GAN at work: its two networks drawn from the model itself, one training step taken "
             "apart on a copy held in this browser session (G draws, D scores, D learns, G learns, with the "
             "gradient D sends back to G as heat maps), and what single units inside G draw. Nothing here changes "
             "the run's files.",
    "train": "Start a run from a preset in the form just below, then watch it here while it trains: the progress "
             "line, the losses of D and G, D's accuracy and the newest grid of G's images, each refreshing by "
             "itself. The notes under the charts say, in this run's own numbers, whether the curves look healthy. "
             "Training runs in its own process: closing the browser does not stop it.",
    "progress": "Every snapshot of the run in order: the same fixed z's drawn by G at each saved step, so the same "
                "images sharpen out of noise before your eyes. Scrub the slider or press Play; the vertical line on "
                "the charts marks the shown snapshot's step, and the notes under them say how the newest steps look.",
    "quality": "How good the model is, as an evaluator (a classifier trained on the real data) measures it: FID "
               "(lower is better), precision (are G's images realistic?), recall and class coverage (does G draw "
               "everything the data has?), each beside the dashed figure real images reach. A few tall bars in the "
               "class histogram are mode collapse at a glance; the nearest training images show whether G copies.",
}

# the guided tour (docs/tour.md says the same at more length): the page's key, its file and title, what to do there
TOUR = [
    ("latent", "explorer/latent.py", "Latent",
     "The app opens on the shipped **mnist** model (the sidebar's run). Press Random a few times, then drag one "
     "slider of z and watch part of the digit change."),
    ("interpolate", "explorer/interpolate.py", "Interpolate",
     "Set the ends to two seeds (say 1 and 7) and press Interpolate: the frames morph one digit into the other "
     "without passing through noise."),
    ("directions", "explorer/directions.py", "Directions",
     "Keep SeFa and drag **Amount along it**: the digit changes along one of the directions G uses most; the "
     "strip below shows the whole way."),
    ("learn", "explorer/learn.py", "Learn",
     "Press **Next sub-step** three times to see one training step taken apart, then **10 steps**: D's scores of "
     "real and fake images move as it learns."),
    ("train", "explorer/train.py", "Train",
     "Your own first run: open the New run form (its preset is already the MNIST recipe), set **Steps** to 2000 "
     "(a few minutes on a laptop) and, under Evaluation during training, **Evaluate every** to 500; press **Start "
     "training** and the charts fill in as it learns."),
    ("progress", "explorer/progress.py", "Progress",
     "Pick your run in the sidebar and press Play: your digits come out of the noise, snapshot by snapshot."),
    ("quality", "explorer/quality.py", "Quality",
     "Read FID and class coverage over your run's training, then press **Find nearest training images**: G's "
     "images beside their closest real ones show it is not copying. That is the tour: every page has its "
     "intro to come back to."),
]
TOUR_PAGES = [key for key, *_ in TOUR]


def first_visit(page: str) -> bool:
    """Whether this is the browser session's first visit to page: true on every run of the script while the
    user stays on it (a slider moved), false once they have gone to another page and come back."""
    visits = st.session_state.setdefault(VISITS_KEY, {})
    if st.session_state.get(SHOWN_KEY) != page:
        visits[page] = visits.get(page, 0) + 1
        st.session_state[SHOWN_KEY] = page
    return visits[page] == 1


def page_intro(page: str) -> None:
    """The page's intro and its step of the tour, in an expander open on the first visit and closed after
    (the user may open or close it any time; a rerun of the same visit leaves it as they set it)."""
    with st.expander(LABEL, expanded=first_visit(page), icon=":material/help:"):
        st.markdown(INTROS[page])
        tour_step(page)


def tour_step(page: str) -> None:
    """This page's step of the guided tour and the way to the next; on a page outside it, the way in."""
    if page not in TOUR_PAGES:
        st.caption("New here? The guided tour starts on the Latent page with the shipped MNIST model.")
        st.page_link(TOUR[0][1], label=f"Start the tour: {TOUR[0][2]}", icon=":material/tour:")
        return
    i = TOUR_PAGES.index(page)
    st.markdown(f":material/tour: **Tour, step {i + 1} of {len(TOUR)}.** {TOUR[i][3]}")
    if i + 1 < len(TOUR):
        st.page_link(TOUR[i + 1][1], label=f"Next step: {TOUR[i + 1][2]}", icon=":material/arrow_forward:")
