using System.CommandLine;
using RdmaCs.Configuration;

namespace RdmaCs.Cli.Commands;

/// <summary>
/// An option whose value is a byte count written the way operators write them (64M, 1G). The default is
/// applied here rather than by System.CommandLine, so that help shows "64M" rather than 67108864.
/// </summary>
internal sealed class SizeOption
{
    private readonly long _default;

    public SizeOption(string name, string description, string defaultValue, string? defaultDescription = null)
    {
        _default = ByteSize.Parse(defaultValue);
        Option = new Option<long?>(name)
        {
            Description = $"{description} (bytes, or with a unit K/M/G/T; default {defaultDescription ?? defaultValue})",
            HelpName = "size",
            CustomParser = result =>
            {
                string text = result.Tokens.Count == 1 ? result.Tokens[0].Value : "";
                if (ByteSize.TryParse(text, out long bytes, out string? error))
                {
                    return bytes;
                }
                result.AddError($"{name}: {error}");
                return null;
            },
        };
    }

    public Option<long?> Option { get; }

    public long Get(ParseResult parse) => parse.GetValue(Option) ?? _default;

    /// <summary>--max-block: 2 MiB by default, or the budget when that is smaller.</summary>
    public static SizeOption MaxBlock() => new("--max-block", "largest block one registration and write covers",
        ByteSize.Format(EngineOptions.DefaultMaxBlockBytes), $"{ByteSize.Format(EngineOptions.DefaultMaxBlockBytes)}, or the budget if smaller");

    /// <summary>The max block given, or the default for <paramref name="budgetBytes"/>.</summary>
    public long GetMaxBlock(ParseResult parse, long budgetBytes) =>
        parse.GetValue(Option) ?? EngineOptions.DefaultMaxBlockFor(budgetBytes);

    public static implicit operator Option(SizeOption size) => size.Option;
}
