"""For load balancers and monitoring: liveness, readiness, and Prometheus metrics. Not part
of the public API document."""

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from replyd.app_state import State

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and answering."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(state: State) -> JSONResponse:
    """The database (and Redis, when configured) answer: send traffic here."""
    checks = await state.readiness()
    is_ready = all(checks.values())
    return JSONResponse(
        {"status": "ready" if is_ready else "unavailable", "checks": checks}, status_code=200 if is_ready else 503
    )


@router.get("/metrics")
async def metrics(state: State) -> Response:
    return Response(state.telemetry.render(), media_type=CONTENT_TYPE_LATEST)
