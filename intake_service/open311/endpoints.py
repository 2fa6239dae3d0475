from fastapi import APIRouter

router = APIRouter(tags=["open311"])
