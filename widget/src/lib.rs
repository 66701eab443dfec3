//! Twinline's browser side (placeholder until the widget lands).
