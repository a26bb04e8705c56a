using System.Globalization;
using RdmaCs.Configuration;

namespace RdmaCs.Native;

/// <summary>
/// The plugin's options, from the ABI's one string: <c>budget=64M,max-block=2M,provider=auto,token=SECRET,
/// control-port=N,timeout-ms=N,verify=off,fabric=libfabric,registration-threads=N</c>. Unknown keys and bad values are errors.
/// </summary>
internal sealed record PluginOptions
{
    public long BudgetBytes { get; init; } = 64L << 20;
    public long? MaxBlockBytes { get; init; }
    public string Provider { get; init; } = "auto";
    public string? Token { get; init; }
    public int? ControlPort { get; init; }
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(30);
    public bool Verify { get; init; }

    /// <summary>Threads that register (EngineOptions.RegistrationThreads); 0: automatic, from the NIC's link speed.</summary>
    public int RegistrationThreads { get; init; }

    /// <summary>"libfabric" (the real path) or "memory": an in-process loopback for measuring the ABI and engine alone.</summary>
    public string Fabric { get; init; } = "libfabric";

    public static PluginOptions Parse(string? text)
    {
        var options = new PluginOptions();
        foreach (string item in (text ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            int equals = item.IndexOf('=');
            if (equals <= 0)
            {
                throw new EngineConfigurationException($"option '{item}' is not key=value");
            }
            string key = item[..equals];
            string value = item[(equals + 1)..];
            options = key switch
            {
                "budget" => options with { BudgetBytes = Size(key, value) },
                "max-block" => options with { MaxBlockBytes = Size(key, value) },
                "provider" => options with { Provider = value },
                "token" => options with { Token = value },
                "control-port" => options with { ControlPort = Number(key, value, 1, 65535) },
                "timeout-ms" => options with { Timeout = TimeSpan.FromMilliseconds(Number(key, value, 1, int.MaxValue)) },
                "verify" => options with { Verify = value is "on" or "1" or "true" ? true : value is "off" or "0" or "false" ? false : throw Bad(key, value, "on or off") },
                "registration-threads" => options with { RegistrationThreads = Number(key, value, 0, 64) },
                "fabric" => options with { Fabric = value is "libfabric" or "memory" ? value : throw Bad(key, value, "libfabric or memory") },
                _ => throw new EngineConfigurationException(
                    $"unknown option '{key}' (known: budget, max-block, provider, token, control-port, timeout-ms, verify, fabric, registration-threads)"),
            };
        }
        return options;
    }

    /// <summary>Engine options for these settings and page size, validated.</summary>
    public EngineOptions EngineOptions(int pageSize)
    {
        var engine = new EngineOptions
        {
            BudgetBytes = BudgetBytes,
            MaxBlockBytes = MaxBlockBytes ?? Configuration.EngineOptions.DefaultMaxBlockFor(BudgetBytes),
            PageSize = pageSize,
            RegistrationThreads = RegistrationThreads,
        };
        engine.Validate();
        return engine;
    }

    /// <summary>The token, which every session needs before any memory is exposed.</summary>
    public string RequireToken() =>
        string.IsNullOrEmpty(Token) ? throw new EngineConfigurationException("option token= is required: it authenticates the source") : Token;

    /// <summary>The control port: as given, or the migration port + 1.</summary>
    public int ControlPortFor(string migrationPort) =>
        ControlPort ?? (int.TryParse(migrationPort, NumberStyles.None, CultureInfo.InvariantCulture, out int port) && port < 65535
            ? port + 1
            : throw new EngineConfigurationException($"port '{migrationPort}' is not a number; give control-port="));

    private static long Size(string key, string value) =>
        ByteSize.TryParse(value, out long bytes, out string? error) ? bytes : throw new EngineConfigurationException($"{key}: {error}");

    private static int Number(string key, string value, int min, int max) =>
        int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out int n) && n >= min && n <= max
            ? n
            : throw Bad(key, value, $"a number from {min} to {max}");

    private static EngineConfigurationException Bad(string key, string value, string expected) =>
        new($"option {key}={value}: expected {expected}");
}
