"""What a run spends: the budget every billable tool consults before acting (budget.py), the ledger of estimates
and actual costs in the workspace (ledger.py), and the user's own prices laid over the catalog (prices.py).
Core, like tools/context.py: tools import it, it imports no tool."""
