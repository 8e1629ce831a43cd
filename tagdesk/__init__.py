"""The edge: wiring that knows every app; nothing in the apps imports it."""
