"""Small reusable widgets of the practice window (each draws only; none owns audio or data)."""
