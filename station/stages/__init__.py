"""The pipeline's stages, one module each, in data order.

capture -> trigger -> preprocess -> inference -> decision -> shadow -> publish. Each stage is one thread
(``base.Stage``, or ``capture.CaptureStage`` for the source) between two bounded queues; the
handler that does the stage's work is the class named after it (``PreprocessStage``,
``InferenceStage``, ``DecisionStage``, ``ShadowStage``, ``Publisher``). ``station.pipeline`` wires them.
"""
