"""The operations users perform: validate, then append events. No printing, no clock, no env."""
