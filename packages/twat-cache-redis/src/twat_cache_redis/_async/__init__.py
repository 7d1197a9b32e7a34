"""The asyncio sources of the engine; each module's sync twin is generated next to this folder."""
