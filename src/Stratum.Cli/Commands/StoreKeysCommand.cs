using System.CommandLine;
using Spectre.Console;

namespace Stratum.Cli.Commands;

/// <summary><c>stratum store keys create|ls|rotate|delete</c>: access keys for the S3 endpoint (docs/s3.md).</summary>
public static class StoreKeysCommand
{
    public static Command Create(CliEnvironment environment)
    {
        var command = new Command("keys", "Create, list, rotate and delete access keys for the S3 endpoint");
        command.Subcommands.Add(CreateKey(environment));
        command.Subcommands.Add(List(environment));
        command.Subcommands.Add(Rotate(environment));
        command.Subcommands.Add(Delete(environment));
        return command;
    }

    private static Command CreateKey(CliEnvironment environment)
    {
        var command = new Command("create", "Create a key for yourself; prints {accessKeyId, secretAccessKey} as JSON, the only time the secret is shown");
        return command.WithAction(environment, async run =>
        {
            var created = await run.Client.CreateS3KeyAsync(run.CancellationToken);

            // Always JSON on stdout, so scripts can read both halves without a flag.
            run.Terminal.WriteJson(new { accessKeyId = created.AccessKeyId, secretAccessKey = created.SecretAccessKey, user = created.User, createdAt = created.CreatedAt });
            run.Terminal.Note($"S3 key {created.AccessKeyId} for {created.User}; store the secret now, it is not shown again");
            run.Terminal.Note("use it with: AWS_ACCESS_KEY_ID=<accessKeyId> AWS_SECRET_ACCESS_KEY=<secretAccessKey> aws --endpoint-url http://HOST:8471 s3 ls s3://REPO/main/");
            return ExitCodes.Ok;
        });
    }

    private static Command List(CliEnvironment environment)
    {
        var command = new Command("ls", "List your keys (an admin: everyone's), never their secrets");
        return command.WithAction(environment, async run =>
        {
            var keys = await run.Client.ListS3KeysAsync(run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(keys);
                return ExitCodes.Ok;
            }

            var table = Format.Table("ACCESS KEY ID", "USER", "CREATED");
            foreach (var key in keys)
            {
                table.AddRow(Format.Cell(key.AccessKeyId), Format.Cell(key.User), Format.Time(key.CreatedAt));
            }

            run.Terminal.Result(table);
            return ExitCodes.Ok;
        });
    }

    private static Command Rotate(CliEnvironment environment)
    {
        var id = new Argument<string>("id") { Description = "The access key id (from keys ls)" };
        var command = new Command("rotate", "Give a key a new secret; prints {accessKeyId, secretAccessKey} as JSON once, and the old secret stops working at once") { id };
        return command.WithAction(environment, async run =>
        {
            var rotated = await run.Client.RotateS3KeyAsync(run.Get(id)!, run.CancellationToken);
            run.Terminal.WriteJson(new { accessKeyId = rotated.AccessKeyId, secretAccessKey = rotated.SecretAccessKey, user = rotated.User, createdAt = rotated.CreatedAt });
            run.Terminal.Note($"S3 key {rotated.AccessKeyId} has a new secret; the old one no longer signs requests. Store the new one now, it is not shown again");
            return ExitCodes.Ok;
        });
    }

    private static Command Delete(CliEnvironment environment)
    {
        var id = new Argument<string>("id") { Description = "The access key id (from keys ls)" };
        var command = new Command("delete", "Delete a key; S3 requests signed with it fail from then on") { id };
        return command.WithAction(environment, async run =>
        {
            var keyId = run.Get(id)!;
            await run.Client.DeleteS3KeyAsync(keyId, run.CancellationToken);
            if (run.Terminal.IsJson)
            {
                run.Terminal.WriteJson(new { accessKeyId = keyId, deleted = true });
            }
            else
            {
                run.Terminal.Result($"deleted S3 key [bold]{Markup.Escape(keyId)}[/]");
            }

            return ExitCodes.Ok;
        });
    }
}
