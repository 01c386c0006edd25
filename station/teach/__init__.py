"""Commissioning: teach the station a new line from that line's labelled parts (``station teach``).

Offline and optional: the daemon never imports this package. ``samples`` reads the line's parts
through the station's own trigger and preprocessing (no PyTorch); ``threshold`` sets the operating
point and qualifies it on held-out parts (no PyTorch); ``net``, ``weights`` and ``finetune`` need
the ``train`` extra; ``command`` runs the whole loop and ``report`` draws what it found.
"""
