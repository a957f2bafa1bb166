"""The peers replyd talks to in a benchmark, as scripts for ``python -c SCRIPT PORT``: the stub
model, and an event endpoint."""

STUB_SERVER = """
import sys, uvicorn
from tests.servers import StubModel
uvicorn.run(StubModel().app(), host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""
RECEIVER_SERVER = """
import sys, uvicorn
from starlette.applications import Starlette
from starlette.responses import Response
from starlette.routing import Route

async def receive(request):
    await request.body()
    return Response(status_code=204)

app = Starlette(routes=[Route("/events", receive, methods=["POST"])])
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
"""
"""An event endpoint that takes every delivery at once (it verifies nothing: only replyd's side is measured)."""
