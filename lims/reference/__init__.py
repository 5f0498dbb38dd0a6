"""Reference data: programme lines, installations, sensors, materials, methods, grade specs."""
