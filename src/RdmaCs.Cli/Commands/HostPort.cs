using System.Globalization;

namespace RdmaCs.Cli.Commands;

/// <summary>A HOST:PORT argument ([::1]:PORT for IPv6).</summary>
internal readonly record struct HostPort(string Host, int Port)
{
    public static bool TryParse(string text, out HostPort value, out string error)
    {
        value = default;
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || colon == text.Length - 1)
        {
            error = $"'{text}' is not HOST:PORT";
            return false;
        }
        string host = text[..colon].Trim('[', ']');
        if (!int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port > 65535)
        {
            error = $"'{text[(colon + 1)..]}' is not a port number";
            return false;
        }
        value = new HostPort(host, port);
        error = "";
        return true;
    }

    public override string ToString() => Host.Contains(':') ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}
