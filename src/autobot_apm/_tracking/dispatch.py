"""Wrappers per kind of callable, chosen once when a function is decorated.

* plain function and coroutine function: the span covers the call (for a coroutine, the
  awaiting of it, not the creation of the coroutine object);
* generator and async generator: the span starts at the first iteration (when the body
  first runs) and stays open until the generator is exhausted, fails, is closed by the
  consumer or is abandoned; ``send``/``throw``/``close`` and their async forms are
  forwarded. The span's context is attached only while the body runs, never while the
  generator is suspended at a ``yield``, so the consumer's own spans are not nested
  inside it by accident.

A plain function or coroutine function (the common case, and the hot one) gets a plain
Python wrapper: one frame of ours per call, no proxy object in between. It carries the
decorated function's name, signature (``__wrapped__``), ``__dict__`` and module globals,
and being a function it binds as a method like the original; FastAPI reads all of these
to call endpoints. Everything else (generator functions, classmethod and staticmethod
objects, callable instances, partials, builtins) goes through wrapt, which forwards
every attribute, ``inspect.isgeneratorfunction`` included.
"""

from __future__ import annotations

import functools
import inspect
import types
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, TypeVar, cast

import wrapt
from opentelemetry import context as otel_context

from . import runtime as _runtime
from .lifecycle import (
    Starter,
    activate,
    begin,
    complete,
    conclude,
    deactivate,
    finish,
    leave,
    record_item,
    start_operation,
)

F = TypeVar("F")
Wrapper = Callable[[Callable[..., Any], Any, tuple[Any, ...], dict[str, Any]], Any]


def is_decoration_target(obj: object) -> bool:
    """Whether a bare tracker was given something to decorate (not a name or a system)."""
    return callable(obj) or isinstance(obj, classmethod | staticmethod)


def target_name(obj: Any) -> str | None:
    """The name of what a bare tracker decorates, seeing through classmethod/staticmethod
    (None for callables without one, such as a functools.partial)."""
    name = getattr(getattr(obj, "__func__", obj), "__name__", None)
    return name if isinstance(name, str) else None


def decorate(tracker: Starter[Any], fn: F) -> F:
    """Wrap ``fn`` (function, method, classmethod or staticmethod) for ``tracker``."""
    target = fn.__func__ if isinstance(fn, classmethod | staticmethod) else fn
    if not callable(target):
        raise TypeError(f"autobot-apm trackers decorate callables, not {type(fn).__name__}")
    if isinstance(fn, types.FunctionType) and not _is_generator(fn):
        return cast(F, _plain_wrapper(tracker, fn))
    if inspect.isasyncgenfunction(target):
        wrapper = _async_generator_wrapper(tracker)
    elif inspect.isgeneratorfunction(target):
        wrapper = _generator_wrapper(tracker)
    elif inspect.iscoroutinefunction(target):
        wrapper = _coroutine_wrapper(tracker)
    else:
        wrapper = _function_wrapper(tracker)
    # Untracked (no runtime, no SDK provider of the process's own), wrapt calls ``fn``
    # itself and skips ``wrapper``: ``enabled`` is called first (see runtime.enabled).
    enabled = _runtime.enabled
    return cast(F, wrapt.FunctionWrapper(cast(Callable[..., Any], fn), wrapper, enabled))


def _is_generator(fn: types.FunctionType) -> bool:
    return inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn)


def _plain_wrapper(tracker: Starter[Any], fn: types.FunctionType) -> types.FunctionType:
    make = _coroutine_call if inspect.iscoroutinefunction(fn) else _call
    template = make(tracker, fn)
    # The wrapper runs with the decorated function's module globals: frameworks that
    # resolve string annotations through ``__globals__`` without unwrapping (FastAPI
    # before 0.123 does) then see the user's module, as they do for the undecorated
    # function. The template reads no global name, only its closure and builtins.
    wrapper = types.FunctionType(
        template.__code__, fn.__globals__, template.__name__, None, template.__closure__
    )
    return cast(types.FunctionType, functools.update_wrapper(wrapper, fn))


def _call(tracker: Starter[Any], fn: Callable[..., Any]) -> Callable[..., Any]:
    # Everything the wrapper calls is bound here, so that its code reads no global name
    # (see _plain_wrapper); ``runtime`` is the module, read on each call.
    runtime_module, adopt, start, fail, end = _runtime, _runtime.adopt, begin, leave, conclude
    anything = BaseException

    def call(*args: Any, **kwargs: Any) -> Any:
        runtime = runtime_module.current or adopt()
        if runtime is None:
            return fn(*args, **kwargs)
        operation = start(tracker, runtime)
        if operation is None:
            return fn(*args, **kwargs)
        try:
            result = fn(*args, **kwargs)
        except anything as exc:
            fail(operation, exc)
            raise
        return end(operation, result)

    return call


def _coroutine_call(tracker: Starter[Any], fn: Callable[..., Any]) -> Callable[..., Any]:
    runtime_module, adopt, start, fail, end = _runtime, _runtime.adopt, begin, leave, conclude
    anything = BaseException

    async def call(*args: Any, **kwargs: Any) -> Any:
        runtime = runtime_module.current or adopt()
        if runtime is None:
            return await fn(*args, **kwargs)
        operation = start(tracker, runtime)
        if operation is None:
            return await fn(*args, **kwargs)
        try:
            result = await fn(*args, **kwargs)
        except anything as exc:
            fail(operation, exc)
            raise
        return end(operation, result)

    return call


def _function_wrapper(tracker: Starter[Any]) -> Wrapper:
    def call(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        runtime = _runtime.current
        if runtime is None:
            return wrapped(*args, **kwargs)
        operation = begin(tracker, runtime)
        if operation is None:
            return wrapped(*args, **kwargs)
        try:
            result = wrapped(*args, **kwargs)
        except BaseException as exc:
            leave(operation, exc)
            raise
        return conclude(operation, result)

    return call


def _coroutine_wrapper(tracker: Starter[Any]) -> Wrapper:
    async def call(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        runtime = _runtime.current
        if runtime is None:
            return await wrapped(*args, **kwargs)
        operation = begin(tracker, runtime)
        if operation is None:
            return await wrapped(*args, **kwargs)
        try:
            result = await wrapped(*args, **kwargs)
        except BaseException as exc:
            leave(operation, exc)
            raise
        return conclude(operation, result)

    return call


def _generator_wrapper(tracker: Starter[Any]) -> Wrapper:
    def call(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        generator = wrapped(*args, **kwargs)
        runtime = _runtime.current
        if runtime is None:
            return generator
        return _drive(tracker, runtime, otel_context.get_current(), generator)

    return call


def _async_generator_wrapper(tracker: Starter[Any]) -> Wrapper:
    def call(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        generator = wrapped(*args, **kwargs)
        runtime = _runtime.current
        if runtime is None:
            return generator
        return _drive_async(tracker, runtime, otel_context.get_current(), generator)

    return call


def _drive(
    tracker: Starter[Any],
    runtime: _runtime.Runtime,
    parent: otel_context.Context,
    generator: Generator[Any, Any, Any],
) -> Generator[Any, Any, Any]:
    # The body of this generator first runs at the consumer's first next(): that is when
    # the user's generator body first runs too, so that is when the span starts.
    operation = start_operation(tracker, runtime, parent)
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        activate(operation)
        try:
            item = generator.send(sent) if thrown is None else generator.throw(thrown)
        except StopIteration as stop:
            complete(operation, stop.value)
            return stop.value
        except BaseException as exc:
            finish(operation, None if isinstance(exc, GeneratorExit) else exc)
            raise
        finally:
            deactivate(operation)
        sent, thrown = None, None
        record_item(operation, item)
        try:
            sent = yield item
        except BaseException as exc:
            # Everything the consumer throws, GeneratorExit from close() included, goes
            # to the user's generator as it is: what that generator does with it (yield,
            # return, re-raise) is what the consumer sees, exactly as untracked. A
            # generator that yields after close() gets the same RuntimeError either way.
            thrown = exc


async def _drive_async(
    tracker: Starter[Any],
    runtime: _runtime.Runtime,
    parent: otel_context.Context,
    generator: AsyncGenerator[Any, Any],
) -> AsyncGenerator[Any, Any]:
    operation = start_operation(tracker, runtime, parent)
    sent: Any = None
    thrown: BaseException | None = None
    while True:
        activate(operation)
        try:
            step = generator.asend(sent) if thrown is None else generator.athrow(thrown)
            item = await step
        except StopAsyncIteration:
            complete(operation, None)
            return
        except BaseException as exc:
            finish(operation, None if isinstance(exc, GeneratorExit) else exc)
            raise
        finally:
            deactivate(operation)
        sent, thrown = None, None
        record_item(operation, item)
        try:
            sent = yield item
        except BaseException as exc:  # aclose() and athrow() too: see _drive
            thrown = exc
