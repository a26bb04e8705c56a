using RdmaCs.Configuration;

namespace RdmaCs.Tests;

public class ConfigurationTests
{
    [Theory]
    [InlineData("4096", 4096)]
    [InlineData("64K", 64L << 10)]
    [InlineData("64M", 64L << 20)]
    [InlineData("64MiB", 64L << 20)]
    [InlineData("1g", 1L << 30)]
    [InlineData(" 2T ", 2L << 40)]
    [InlineData("100B", 100)]
    public void Sizes_are_read_with_binary_units(string text, long bytes)
    {
        Assert.Equal(bytes, ByteSize.Parse(text));
    }

    [Theory]
    [InlineData("")]
    [InlineData("M")]
    [InlineData("-1M")]
    [InlineData("1.5G")]
    [InlineData("64X")]
    [InlineData("99999999999T")]
    public void Malformed_sizes_are_refused_with_the_input_in_the_message(string text)
    {
        var error = Assert.Throws<FormatException>(() => ByteSize.Parse(text));
        Assert.False(string.IsNullOrWhiteSpace(error.Message));
    }

    [Theory]
    [InlineData(64L << 20, "64M")]
    [InlineData(1L << 30, "1G")]
    [InlineData(4097, "4097")]
    public void Sizes_print_with_the_largest_exact_unit(long bytes, string text)
    {
        Assert.Equal(text, ByteSize.Format(bytes));
    }

    [Fact]
    public void A_budget_of_exactly_one_page_is_valid_and_one_byte_less_is_not()
    {
        new EngineOptions { BudgetBytes = 4096, MaxBlockBytes = 4096 }.Validate();
        var error = Assert.Throws<EngineConfigurationException>(
            () => new EngineOptions { BudgetBytes = 4095, MaxBlockBytes = 4096 }.Validate());
        Assert.Contains("smaller than one page", error.Message);
        Assert.Throws<EngineConfigurationException>(() => new EngineOptions { BudgetBytes = 0 }.Validate());
    }

    [Fact]
    public void A_max_block_larger_than_the_budget_is_refused()
    {
        var error = Assert.Throws<EngineConfigurationException>(
            () => new EngineOptions { BudgetBytes = 1 << 20, MaxBlockBytes = 2 << 20 }.Validate());
        Assert.Contains("larger than the budget", error.Message);
    }

    [Theory]
    [InlineData(3000)]
    [InlineData(6144)]
    [InlineData(0)]
    [InlineData(-4096)]
    public void A_page_size_that_is_not_a_power_of_two_is_refused(int pageSize)
    {
        var error = Assert.Throws<EngineConfigurationException>(
            () => new EngineOptions { PageSize = pageSize }.Validate());
        Assert.Contains("power of two", error.Message);
    }

    [Fact]
    public void A_page_smaller_than_the_host_page_is_refused_while_memory_locking_is_on()
    {
        var error = Assert.Throws<EngineConfigurationException>(
            () => new EngineOptions { PageSize = 2048, MaxBlockBytes = 2048 }.Validate());
        Assert.Contains("host page size", error.Message);
        new EngineOptions { PageSize = 2048, MaxBlockBytes = 2048, LockMemoryOnSoftwareFabrics = false }.Validate();
    }
}
