using System.CommandLine;
using Spectre.Console;
using Stratum.Client.Contracts;

namespace Stratum.Cli.Commands;

/// <summary><c>stratum tokens create|list|revoke</c>.</summary>
public static class TokensCommand
{
    public static Command Create(CliEnvironment environment)
    {
        var command = new Command("tokens", "Create, list and revoke API tokens");
        command.Subcommands.Add(CreateToken(environment));
        command.Subcommands.Add(List(environment));
        command.Subcommands.Add(Revoke(environment));
        return command;
    }

    private static Command CreateToken(CliEnvironment environment)
    {
        var user = new Option<string?>("--user") { Description = "Whose token (default: yours; admins may name anyone)" };
        var name = new Option<string?>("--name") { Description = "What the token is for, e.g. ci" };
        var expiresIn = new Option<string?>("--expires-in") { Description = "Lifetime: 30d, 12h (default: no expiry)" };
        var command = new Command("create", "Create a token; its secret is printed once") { user, name, expiresIn };
        return command.WithAction(environment, async run =>
        {
            var created = await run.Client.CreateTokenAsync(
                new CreateTokenRequest { User = run.Get(user), Name = run.Get(name), ExpiresIn = run.Get(expiresIn) },
                run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(created);
            }
            else
            {
                // The secret alone on stdout, so `TOKEN=$(stratum tokens create)` works.
                run.Terminal.Raw(created.Secret);
                run.Terminal.FlushRaw();
            }

            var expiry = created.Token.ExpiresAt is { } at ? $"expires {Format.Time(at)}" : "does not expire";
            run.Terminal.Note($"token {created.Token.Id} for {created.Token.User} ({expiry}); this is the only time the secret is shown: store it now");
            run.Terminal.Note($"use it elsewhere with: STRATUM_ADDR={run.Client.Address} STRATUM_TOKEN=<secret> {run.Terminal.InvokedAs} jobs list");
            return ExitCodes.Ok;
        });
    }

    private static Command List(CliEnvironment environment)
    {
        var user = new Option<string?>("--user") { Description = "Whose tokens (default: yours)" };
        var command = new Command("list", "List tokens (never their secrets)") { user };
        return command.WithAction(environment, async run =>
        {
            var tokens = await run.Client.ListTokensAsync(run.Get(user), run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(tokens);
                return ExitCodes.Ok;
            }

            var table = Format.Table("ID", "USER", "NAME", "CREATED", "EXPIRES", "STATUS");
            var now = environment.Time.GetUtcNow();
            foreach (var token in tokens)
            {
                table.AddRow(Format.Cell(token.Id), Format.Cell(token.User), Format.Cell(token.Name), Format.Time(token.CreatedAt), Format.Time(token.ExpiresAt), Status(token, now));
            }

            run.Terminal.Result(table);
            return ExitCodes.Ok;
        });
    }

    private static Command Revoke(CliEnvironment environment)
    {
        var id = new Argument<string>("id") { Description = "The token's id (from tokens list)" };
        var command = new Command("revoke", "Revoke a token; it stops working at once") { id };
        return command.WithAction(environment, async run =>
        {
            var tokenId = run.Get(id)!;
            await run.Client.RevokeTokenAsync(tokenId, run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(new { id = tokenId, revoked = true });
            }
            else
            {
                run.Terminal.Result($"revoked token [bold]{Markup.Escape(tokenId)}[/]");
            }

            return ExitCodes.Ok;
        });
    }

    private static string Status(TokenDto token, DateTimeOffset now) =>
        token.RevokedAt is not null ? "[grey]revoked[/]"
        : token.ExpiresAt is { } expires && expires <= now ? "[grey]expired[/]"
        : "[green]active[/]";
}
