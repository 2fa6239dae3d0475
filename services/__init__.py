"""Runtime kit shared by the three Yingshang services, and the launcher (``python -m services``)."""
