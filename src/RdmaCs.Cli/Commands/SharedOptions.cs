using System.CommandLine;

namespace RdmaCs.Cli.Commands;

/// <summary>Options several commands share: the token (or its file), the provider, the live writer's pace and rounds, HOST:PORT.</summary>
internal static class SharedOptions
{
    public static Option<string?> Token() => new("--token")
    {
        Description = "shared secret that authenticates the source before any memory is exposed",
    };

    public static Option<FileInfo?> TokenFile() => new("--token-file")
    {
        Description = "file holding the token (first line), so that it stays out of process listings",
    };

    public static Option<string> Provider() => new("--provider")
    {
        Description = "libfabric provider: auto (verbs, then efa, then tcp), verbs, efa or tcp",
        DefaultValueFactory = _ => "auto",
    };

    public static Option<int> DirtyRate() =>
        CountOption.Create("--dirty-rate", "pages per second the writer rewrites while the transfer runs", 20_000, minimum: 0);

    public static Option<int> Rounds() =>
        CountOption.Create("--rounds", "live rounds before the writer is stopped for the final pass", 5, minimum: 1);

    public static Option<HostPort> Endpoint(string name, string description) => new(name)
    {
        Description = description,
        Required = true,
        HelpName = "host:port",
        CustomParser = result =>
        {
            if (HostPort.TryParse(result.Tokens.Count == 1 ? result.Tokens[0].Value : "", out HostPort value, out string error))
            {
                return value;
            }
            result.AddError($"{name}: {error}");
            return default;
        },
    };

    /// <summary>The token from --token or --token-file; an error message when neither or both are given.</summary>
    public static string? ReadToken(ParseResult parse, Option<string?> token, Option<FileInfo?> tokenFile, out string? error)
    {
        string? text = parse.GetValue(token);
        FileInfo? file = parse.GetValue(tokenFile);
        error = null;
        if (text is not null && file is not null)
        {
            error = "give either --token or --token-file, not both";
            return null;
        }
        if (file is not null)
        {
            try
            {
                text = File.ReadLines(file.FullName).FirstOrDefault()?.Trim();
            }
            catch (IOException e)
            {
                error = $"cannot read the token file: {e.Message}";
                return null;
            }
        }
        if (string.IsNullOrEmpty(text))
        {
            error = "a token is required (--token or --token-file): it authenticates the source before any memory is exposed";
            return null;
        }
        return text;
    }
}
