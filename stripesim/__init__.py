"""The embedded fake Stripe: localstripe, started on loopback with its own
state file. A tool beside the app (like the kie.ai simulator), never imported
by it: the app only sees a Stripe API at STRIPE_API_BASE."""
