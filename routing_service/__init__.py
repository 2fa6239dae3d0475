"""Routing service: verification, dispatch to units, supervision cards (督办卡) with working-day
deadlines, the supervision ladder, webhooks to department systems and the audited history."""
