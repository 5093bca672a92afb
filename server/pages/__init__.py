"""HTML pages: one router per resource, each rendering templates/ from the same services as the API."""

from fastapi import APIRouter

from server.pages import auth, projects, runs

router = APIRouter(include_in_schema=False)
router.include_router(auth.router)
router.include_router(projects.router)
router.include_router(runs.router)

__all__ = ["router"]
