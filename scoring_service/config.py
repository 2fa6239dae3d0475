from pydantic_settings import SettingsConfigDict

from services.settings import BaseServiceSettings


class ScoringSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="SCORING_", env_file=".env", extra="ignore")

    service_name: str = "scoring"
    revisit_days: int = 1
    # Working days after the revisit due date before an unrated case is archived anyway.
    revisit_window_days: int = 5
    # Weights of DESIGN §5 (sign 10, on-time 30, satisfaction 40, resolution 20) and k.
    weight_sign: float = 10.0
    weight_on_time: float = 30.0
    weight_satisfaction: float = 40.0
    weight_resolution: float = 20.0
    # 办件按时率(代办事项): off until the evaluation policy gives it a weight.
    weight_agency: float = 0.0
    basic_satisfaction_k: float = 1.0
    deduction_listed: float = 2.0
    deduction_escalated: float = 5.0
    deduction_red: float = 0.5


settings = ScoringSettings()
