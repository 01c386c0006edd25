"""Commissioning: teach the station a new line from that line's labelled parts (``station teach``).

Offline and optional: the daemon never imports this package. ``command`` runs the whole loop, on
the options ``options`` types: ``paths`` checks where it writes, ``samples`` (with ``truth``,
``exported``, ``groups`` and ``parts``) reads the line's parts through the station's own trigger
and preprocessing, ``threshold`` sets the operating point and qualifies it on held-out parts,
``candidates`` compares the networks on those figures, and ``report`` and ``selftest`` write what
it found and what the model carries for the station's gate; none of these needs PyTorch. ``net``,
``weights`` and ``finetune`` teach the networks and write them, with the ``train`` extra (``pits``
paints the synthetic defects ``--pits`` shows them). docs/architecture.md says each module in a
line.
"""
