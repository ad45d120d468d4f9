"""Stand-in for st2common.models.api.trace.TraceContext."""


class TraceContext:
    def __init__(self, id_=None, trace_tag=None):
        self.id_ = id_
        self.trace_tag = trace_tag

    def __str__(self):
        return f"{{id_: {self.id_}, trace_tag: {self.trace_tag}}}"

    def __json__(self):
        return vars(self)
