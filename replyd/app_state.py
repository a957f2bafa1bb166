"""How a request of the API or the console finds the app's ``Services``, which the app's
lifespan built: one FastAPI dependency, ``State``, for both front-ends."""

from typing import Annotated

from fastapi import Depends, Request

from replyd.services import Services


async def get_services(request: Request) -> Services:
    """``async``, so FastAPI calls it on the event loop instead of in a worker thread."""
    services: Services = request.app.state.replyd
    return services


State = Annotated[Services, Depends(get_services)]
