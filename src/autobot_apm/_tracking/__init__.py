"""The tracking engine: trackers, dispatch by callable kind, the handle, the runtime, attribute
coercion and fault containment.
"""
