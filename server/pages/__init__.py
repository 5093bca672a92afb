"""HTML pages: one router per resource, each rendering templates/ from the same services as the API."""

from fastapi import APIRouter

from server.pages import accounts, auth, datasets, errors, experiments, gradcheck, projects, runs
from server.pages import sweeps as sweep_pages

router = APIRouter(include_in_schema=False)
router.include_router(auth.router)
router.include_router(accounts.router)
router.include_router(projects.router)
router.include_router(runs.router)
router.include_router(errors.router)
router.include_router(experiments.router)
router.include_router(datasets.router)
router.include_router(sweep_pages.router)
router.include_router(gradcheck.router)

__all__ = ["router"]
