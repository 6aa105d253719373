"""Our own subscriptions: plans sold through Shopify, billing on schedule, dunning."""
