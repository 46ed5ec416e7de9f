"""DCGAN latent-space explorer: `streamlit run streamlit_app.py`.

Opens on the shipped MNIST model (checkpoints/mnist, else the newest run). Runs live in
checkpoints/ next to this file, or in $DCGAN_CHECKPOINTS. The sidebar's run and step choice is
shared by every page; each page is one file in explorer/.
"""
import streamlit as st

from explorer.common import PIXELATED_CSS
from explorer.sidebar import sidebar

st.set_page_config(page_title="DCGAN explorer", page_icon="static/favicon.png", layout="wide")
st.markdown(PIXELATED_CSS, unsafe_allow_html=True)

pages = [
    st.Page("explorer/train.py", title="Train", icon=":material/model_training:", url_path="train"),
    st.Page("explorer/progress.py", title="Progress", icon=":material/timeline:", url_path="progress"),
    st.Page("explorer/quality.py", title="Quality", icon=":material/insights:", url_path="quality"),
    # the app opens here: the shipped model, ready to explore. A default page answers only at the root, so
    # the same page is listed again, hidden, for /latent (its url_path here must differ from that one's)
    st.Page("explorer/latent.py", title="Latent", icon=":material/tune:", url_path="latent-space", default=True),
    st.Page("explorer/interpolate.py", title="Interpolate", icon=":material/animation:", url_path="interpolate"),
    st.Page("explorer/directions.py", title="Directions", icon=":material/explore:", url_path="directions"),
    st.Page("explorer/invert.py", title="Invert", icon=":material/draw:", url_path="invert"),
    st.Page("explorer/learn.py", title="Learn", icon=":material/school:", url_path="learn"),
    st.Page("explorer/latent.py", title="Latent", icon=":material/tune:", url_path="latent", visibility="hidden"),
]
page = st.navigation(pages)
# the pages read the sidebar's choice from session_state; it is drawn before the page runs
st.session_state["selection"] = sidebar()
page.run()
