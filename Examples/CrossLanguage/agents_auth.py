"""A bearer token for AutoGen's Python worker (autogen-ext[grpc] 0.7.5) on a runtime-host that
requires one (--auth-token, or an identity of --auth-file: a token or a JWT).

AutoGen's GrpcWorkerAgentRuntime opens its gRPC channel itself, with grpc.aio.insecure_channel, and
sends only `client-id` metadata. A client interceptor on that channel adds
`authorization: Bearer TOKEN` to every call the runtime makes (OpenChannel, RegisterAgent,
AddSubscription, ...). AutoGen has no parameter for interceptors, so `start_with_token` hands one
to the channel the runtime creates while it starts:

    runtime = GrpcWorkerAgentRuntime(host_address="127.0.0.1:50051")
    await start_with_token(runtime, os.environ["AGENTS_TOKEN"])

Nothing else changes: the worker registers, subscribes, publishes and answers as before, and the
host allows it what its identity allows (README, Security).
"""

from contextlib import contextmanager

import grpc


class _WithToken:
    def __init__(self, token: str) -> None:
        self._header = ("authorization", f"Bearer {token}")

    def _with_token(self, details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
        metadata = [*(details.metadata or ()), self._header]
        return grpc.aio.ClientCallDetails(
            details.method, details.timeout, metadata, details.credentials, details.wait_for_ready
        )


class _UnaryUnary(_WithToken, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(self, continuation, details, request):
        return await continuation(self._with_token(details), request)


class _UnaryStream(_WithToken, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(self, continuation, details, request):
        return await continuation(self._with_token(details), request)


class _StreamUnary(_WithToken, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(self, continuation, details, request_iterator):
        return await continuation(self._with_token(details), request_iterator)


class _StreamStream(_WithToken, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(self, continuation, details, request_iterator):
        return await continuation(self._with_token(details), request_iterator)


def bearer_token_interceptors(token: str) -> list:
    """Interceptors that add `authorization: Bearer TOKEN` to every call on a grpc.aio channel: one
    per call shape, since a channel files each interceptor under the first shape it implements."""
    return [kind(token) for kind in (_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream)]


@contextmanager
def channels_with_token(token: str):
    """While active, channels made with grpc.aio.insecure_channel carry the token."""
    original = grpc.aio.insecure_channel

    def insecure_channel(target, options=None, compression=None, interceptors=None):
        return original(
            target, options=options, compression=compression, interceptors=[*(interceptors or ()), *bearer_token_interceptors(token)]
        )

    grpc.aio.insecure_channel = insecure_channel
    try:
        yield
    finally:
        grpc.aio.insecure_channel = original


async def start_with_token(runtime, token: str | None) -> None:
    """Starts an AutoGen GrpcWorkerAgentRuntime whose calls carry `token` (none: as AutoGen does)."""
    if not token:
        await runtime.start()
        return
    with channels_with_token(token):
        await runtime.start()
