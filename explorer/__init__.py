"""The Streamlit explorer: one module per page plus shared helpers; builds on dcgan/, never the reverse."""
