from fastapi import APIRouter

router = APIRouter(prefix="/v1/cppcc", tags=["cppcc-165"])
