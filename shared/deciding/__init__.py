"""What a deciding site (the hub, a township or county centre) does to cases: the window
context, acting on a case and routing what arrives, the projection its queues read, the
deadline timers and a supervisor's bulk reassignment. No web framework here."""
