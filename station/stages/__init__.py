"""The pipeline's stages, one module each.

capture -> trigger -> preprocess -> inference -> decision -> publish, in data order, with shadow beside
inference and decision (a second model judging the same crops, never changing a verdict). Each stage is
one thread: ``base.Stage`` runs a handler between two bounded queues (``PreprocessStage``,
``InferenceStage``, ``DecisionStage`` and ``Publisher`` are handlers, called once per item on that
thread; the trigger's is ``line_trigger.LineTrigger`` or ``trigger.FrameTrigger``), and
``capture.CaptureStage`` (the source) and ``shadow.ShadowStage`` are threads of their own
(``base.Worker``). ``station.pipeline`` wires them.
"""
