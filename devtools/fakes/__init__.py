"""Local stand-ins for outside systems, shared by tests and benchmarks.

Each is a real server on 127.0.0.1 that honours the system's published contract (paths,
auth, limits, error bodies), so the platform's clients are exercised as they are deployed.

- `shopify.FakeShopify`: the Shopify Admin GraphQL API (products, redeem-code bulk creation).
- `smtp.FakeSMTPServer`: an SMTP server (aiosmtpd) that stores messages and can be told to
  answer 4xx / 5xx.
"""
